import { closeSync, fstatSync, openSync } from 'node:fs';

/**
 * A blocking descriptor for the process's stdin (0) or stdout (1), or null
 * when there is none to be had and node streams must be used. Node puts
 * pipes it wraps into non-blocking mode, so for a pipe or FIFO this opens
 * /proc/self/fd/N afresh (a new open file description on the same pipe,
 * blocking by default); files and character devices keep their descriptor,
 * which preserves the shell's offset and O_APPEND. Sockets (a parent's
 * stdio 'pipe' is a socketpair) cannot be reopened: null. The caller closes
 * what `owned` says it owns.
 */
export function blockingStdio(fd: 0 | 1): { fd: number; owned: boolean } | null {
  const st = fstatSync(fd);
  if (st.isFile() || st.isCharacterDevice() || st.isBlockDevice()) return { fd, owned: false };
  if (!st.isFIFO()) return null;
  try {
    return { fd: openSync(`/proc/self/fd/${fd}`, fd === 0 ? 'r' : 'w'), owned: true };
  } catch {
    return null;
  }
}

export function releaseStdio(s: { fd: number; owned: boolean }): void {
  if (s.owned) closeSync(s.fd);
}
