import { UsageError } from '../errors.js';

/**
 * The parts of an OCI image config (image-spec config.md, "config") that say
 * how to run the image, and how a run's own flags combine with them — as
 * Docker and podman do, so an image behaves the same here:
 * - the command is Entrypoint followed by the run's arguments, or by Cmd
 *   when the run gives none;
 * - the environment is the image's Env, then --env-file, then --env, a later
 *   KEY replacing an earlier one; PATH comes from it too;
 * - the working directory is --workdir, else WorkingDir, else /;
 * - the user is --user, else User ("name", "uid", "name:group", "uid:gid").
 * Pure: the env file's text and the host environment are passed in.
 */
export interface ImageRunConfig {
  readonly Entrypoint?: readonly string[] | null;
  readonly Cmd?: readonly string[] | null;
  readonly Env?: readonly string[] | null;
  readonly WorkingDir?: string;
  readonly User?: string;
}

export function commandOf(config: ImageRunConfig | null, args: readonly string[]): string[] {
  const entry = config?.Entrypoint ?? [];
  return [...entry, ...(args.length > 0 ? args : (config?.Cmd ?? []))];
}

/** KEY=VALUE → [KEY, VALUE]; a bare KEY takes the host's value (skipped when the host has none), as docker run -e KEY does. */
export function parseEnvEntry(entry: string, what: string, hostEnv: NodeJS.ProcessEnv): [string, string] | null {
  const eq = entry.indexOf('=');
  const key = eq < 0 ? entry : entry.slice(0, eq);
  if (!/^[^=\0\s]+$/.test(key) || entry.includes('\0')) {
    throw new UsageError(
      `${what} "${entry}" is not KEY=VALUE`,
      'a name without "=", spaces or NUL, then "=" and the value (or a bare KEY to pass the host\'s value on)',
    );
  }
  if (eq >= 0) return [key, entry.slice(eq + 1)];
  const v = hostEnv[key];
  return v === undefined ? null : [key, v];
}

/** An env file (docker's --env-file form): KEY=VALUE or KEY per line; blank lines and lines starting with # are skipped; no quoting. */
export function parseEnvFile(text: string, file: string, hostEnv: NodeJS.ProcessEnv): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const e = parseEnvEntry(line, `${file} line ${i + 1}:`, hostEnv);
    if (e) out.push(e);
  });
  return out;
}

/** Layers of KEY=VALUE pairs, later ones winning; the result keeps first-seen order. */
export function mergeEnv(...layers: ReadonlyArray<ReadonlyArray<readonly [string, string]>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const layer of layers) for (const [k, v] of layer) env[k] = v;
  return env;
}

/** The image's Env entries as pairs (malformed ones, without "=", are skipped as runtimes do). */
export function imageEnv(config: ImageRunConfig | null): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const e of config?.Env ?? []) {
    const eq = e.indexOf('=');
    if (eq > 0) out.push([e.slice(0, eq), e.slice(eq + 1)]);
  }
  return out;
}

export function workdirOf(config: ImageRunConfig | null, workdir: string | undefined): string {
  const dir = workdir ?? (config?.WorkingDir || '/');
  if (!dir.startsWith('/')) {
    throw new UsageError(`working directory "${dir}" is not absolute`, 'give an absolute path inside the container, e.g. --workdir /srv');
  }
  return dir;
}
