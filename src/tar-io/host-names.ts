import { readFileSync } from 'node:fs';
import type { NameResolver } from '../tar/acl-binary.js';

/**
 * Resolves user and group names the way GNU tar does when it meets a named
 * ACL entry on extraction: against the extracting host's databases. Read
 * from /etc/passwd and /etc/group once, on first use (no NSS modules: names
 * only from the files).
 */
export function hostNameResolver(passwdPath = '/etc/passwd', groupPath = '/etc/group'): NameResolver {
  let users: Map<string, number> | undefined;
  let groups: Map<string, number> | undefined;
  return (kind, name) => {
    if (kind === 'user') return (users ??= readIds(passwdPath)).get(name);
    return (groups ??= readIds(groupPath)).get(name);
  };
}

function readIds(path: string): Map<string, number> {
  const out = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && /^\d+$/.test(f[2]) && !out.has(f[0])) out.set(f[0], Number(f[2]));
  }
  return out;
}
