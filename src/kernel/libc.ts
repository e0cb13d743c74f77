import { constants as osConstants } from 'node:os';
import koffi from 'koffi';
import { FsidmapError } from '../errors.js';

/**
 * The one handle on libc that every kernel adapter shares. Files in
 * src/kernel/ declare the functions they need with `libc.func(...)` and turn
 * failures into SyscallError with `syscallError`. Nothing outside
 * src/kernel/ imports koffi.
 */
export const libc = koffi.load('libc.so.6');

/** long syscall(long number, ...): for calls glibc has no wrapper for (open_tree, mount_setattr, …). */
export const syscall = libc.func('long syscall(long number, ...)');

// The calls several adapters make, declared once. Paths are NUL-terminated
// bytes (not JS strings) so that names which are not UTF-8 pass unchanged.
export const closeCall = libc.func('int close(int fd)') as (fd: number) => number;
export const openatCall = libc.func('int openat(int dirfd, const uint8_t *path, int flags, uint32_t mode)') as (
  dirfd: number,
  path: Buffer,
  flags: number,
  mode: number,
) => number;
export const statxCall = libc.func('int statx(int dirfd, const uint8_t *path, int flags, unsigned int mask, uint8_t *buf)') as (
  dirfd: number,
  path: Buffer,
  flags: number,
  mask: number,
  buf: Buffer,
) => number;
export const fchownatCall = libc.func('int fchownat(int dirfd, const uint8_t *path, uint32_t owner, uint32_t group, int flags)') as (
  dirfd: number,
  path: Buffer,
  owner: number,
  group: number,
  flags: number,
) => number;

/** errno of the last call made through koffi on this thread. */
export function lastErrno(): number {
  return koffi.errno();
}

const ERRNO_NAMES: Record<number, string> = Object.fromEntries(Object.entries(osConstants.errno).map(([name, num]) => [num, name]));

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

/**
 * A failed system call: code ERR_SYSCALL_<ERRNO> (e.g. ERR_SYSCALL_EPERM),
 * with the call, the errno and the likely cause a user can act on.
 */
export class SyscallError extends FsidmapError {
  readonly errno: number;
  readonly errnoName: string;
  readonly syscall: string;

  constructor(syscall: string, errno: number, message: string, options: { hint?: string; context?: Record<string, unknown> } = {}) {
    const name = errnoName(errno);
    super(`ERR_SYSCALL_${name}`, message, { ...options, context: { ...options.context, syscall, errno: name } });
    this.name = 'SyscallError';
    this.errno = errno;
    this.errnoName = name;
    this.syscall = syscall;
  }
}

/**
 * Builds the SyscallError for errno after `call` failed on `subject`.
 * `hints` maps errno names to what the user should do about that one.
 */
export function syscallError(
  call: string,
  subject: string,
  errno = lastErrno(),
  hints: Partial<Record<string, string>> = {},
): SyscallError {
  const name = errnoName(errno);
  const generic: Partial<Record<string, string>> = {
    EPERM: 'this needs root (CAP_SYS_ADMIN in the initial user namespace)',
    EACCES: 'permission denied on the path: check its owner and mode',
    ENOSYS: 'this kernel lacks the system call (idmapped mounts need Linux 5.12 or newer)',
  };
  const hint = hints[name] ?? generic[name];
  return new SyscallError(call, errno, `${call}(${subject}) failed: ${name} (${describeErrno(errno)})`, hint === undefined ? {} : { hint });
}

const strerror = libc.func('const char *strerror(int errnum)') as (e: number) => string;

function describeErrno(errno: number): string {
  return strerror(errno) ?? errnoName(errno);
}
