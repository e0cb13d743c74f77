/**
 * Where the account and subordinate-id files live. Every reader and writer
 * takes these paths, so tests, chroots and users with their own copies can
 * point fsidmap elsewhere; the defaults are the files newuidmap reads.
 */
export interface HostPaths {
  readonly subuid: string;
  readonly subgid: string;
  readonly passwd: string;
  readonly group: string;
  readonly loginDefs: string;
}

export const DEFAULT_PATHS: HostPaths = Object.freeze({
  subuid: '/etc/subuid',
  subgid: '/etc/subgid',
  passwd: '/etc/passwd',
  group: '/etc/group',
  loginDefs: '/etc/login.defs',
});

/** The defaults with some paths replaced; undefined values keep the default. */
export function hostPaths(overrides: Partial<Record<keyof HostPaths, string | undefined>> = {}): HostPaths {
  const out: Record<string, string> = { ...DEFAULT_PATHS };
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) out[k] = v;
  return out as unknown as HostPaths;
}
