import { libc, syscallError } from '../libc.js';
import { AT_FDCWD, AT_SYMLINK_FOLLOW } from '../linux.js';

/**
 * Gives a name to an unnamed file opened with O_TMPFILE:
 * linkat(AT_FDCWD, "/proc/self/fd/N", AT_FDCWD, path, AT_SYMLINK_FOLLOW), the
 * form open(2) documents for callers without CAP_DAC_READ_SEARCH. node:fs's
 * link() cannot do it (link(2) does not follow the /proc symlink).
 */
const linkatC = libc.func('int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)') as (
  olddirfd: number,
  oldpath: string,
  newdirfd: number,
  newpath: string,
  flags: number,
) => number;

export function linkOpenFile(fd: number, path: string): void {
  if (linkatC(AT_FDCWD, `/proc/self/fd/${fd}`, AT_FDCWD, path, AT_SYMLINK_FOLLOW) !== 0) {
    throw syscallError('linkat', path, undefined, { EEXIST: 'something already exists at that path' });
  }
}
