import { closeSync, fstatSync, openSync } from 'node:fs';

/**
 * A blocking descriptor for the process's stdin (0) or stdout (1). Node
 * puts pipes it wraps into non-blocking mode, so for a pipe or FIFO this
 * opens /proc/self/fd/N afresh (a new open file description on the same
 * pipe, blocking by default); files and terminals keep their descriptor,
 * which preserves the shell's offset and O_APPEND. The caller closes what
 * `owned` says it owns.
 */
export function blockingStdio(fd: 0 | 1): { fd: number; owned: boolean } {
  const st = fstatSync(fd);
  if (!st.isFIFO()) return { fd, owned: false };
  try {
    return { fd: openSync(`/proc/self/fd/${fd}`, fd === 0 ? 'r' : 'w'), owned: true };
  } catch {
    return { fd, owned: false };
  }
}

export function releaseStdio(s: { fd: number; owned: boolean }): void {
  if (s.owned) closeSync(s.fd);
}
