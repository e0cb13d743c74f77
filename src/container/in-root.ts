import type { Stats } from 'node:fs';
import { dirView, type RootView } from './root-view.js';

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
  return dirView(root).resolve(path, options);
}

/** A rootfs directory or a view of one (an image's layers). */
export function viewOf(root: string | RootView): RootView {
  return typeof root === 'string' ? dirView(root) : root;
}

/** execvp's search, inside root: CMD with a slash as is, otherwise each PATH entry. */
export function findCommand(root: string | RootView, command: string, path: string): string | null {
  const view = viewOf(root);
  const candidates = command.includes('/')
    ? [command]
    : path
        .split(':')
        .filter((d) => d !== '')
        .map((d) => `${d}/${command}`);
  for (const c of candidates) {
    const r = view.resolve(c.startsWith('/') ? c : `/${c}`);
    if (r && r.stat.isFile() && (r.stat.mode & 0o111) !== 0) return c;
  }
  return null;
}
