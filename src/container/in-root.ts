import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';

/**
 * Resolves path inside root as a process chrooted there would (openat2
 * RESOLVE_IN_ROOT): ".." stops at root and absolute symlinks start again at
 * root, so an image's /bin → usr/bin works and a link to /etc never leaves
 * the image. Returns the host path and its lstat, or null if it does not
 * exist. Used for the checks made before a container starts; the stage
 * resolves the same way when it mounts.
 */
export function resolveInRoot(
  root: string,
  path: string,
  options: { followLast?: boolean } = {},
): { hostPath: string; stat: Stats } | null {
  const followLast = options.followLast ?? true;
  const pending = path.split('/').filter((s) => s !== '' && s !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const hostPath = join(root, ...done, part);
    let st: Stats;
    try {
      st = lstatSync(hostPath);
    } catch {
      return null;
    }
    if (st.isSymbolicLink() && (pending.length > 0 || followLast)) {
      if (++links > 40) return null; // ELOOP
      const target = readlinkSync(hostPath);
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'));
      continue;
    }
    done.push(part);
  }
  const hostPath = join(root, ...done);
  try {
    return { hostPath, stat: lstatSync(hostPath) };
  } catch {
    return null;
  }
}

/** execvp's search, inside root: CMD with a slash as is, otherwise each PATH entry. */
export function findCommand(root: string, command: string, path: string): string | null {
  const candidates = command.includes('/')
    ? [command]
    : path
        .split(':')
        .filter((d) => d !== '')
        .map((d) => `${d}/${command}`);
  for (const c of candidates) {
    const r = resolveInRoot(root, c.startsWith('/') ? c : `/${c}`);
    if (r && r.stat.isFile() && (r.stat.mode & 0o111) !== 0) return c;
  }
  return null;
}
