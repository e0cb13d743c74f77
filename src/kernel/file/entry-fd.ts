import { libc, lastErrno, openatCall, statxCall, fchownatCall, closeCall } from '../libc.js';
import { STATX, STATX_SIZE, statxDev, statxIno } from './inode.js';
import { AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, EINVAL, ENOSYS, ESTALE, O_CLOEXEC, O_NOFOLLOW, O_PATH } from '../linux.js';

/**
 * Changes made on one open entry, for the TypeScript engine of tree shifts:
 * the entry is opened once (O_PATH, a final symlink not followed), checked
 * to be the inode the plan names, and every change goes to that fd, so a
 * name swapped or mounted over after planning cannot redirect a write (the
 * C engine, native/libfsidmap-tree.c, does the same). Raw calls: 0 / fd or
 * -errno, never throw.
 */
const SYS_FCHMODAT2 = 452;
/** STATX_TYPE|STATX_INO (the dev fields are always filled). */
const STATX_MASK = 0x1 | 0x100;
const EMPTY = Buffer.from([0]);

// fchmodat2(2), Linux 6.6: the only chmod that takes an O_PATH fd (AT_EMPTY_PATH). A fixed prototype keeps koffi off its variadic path.
const fchmodat2Fn = libc.func('long syscall(long nr, int dirfd, const uint8_t *path, uint32_t mode, int flags)') as (
  nr: number,
  d: number,
  p: Buffer,
  m: number,
  f: number,
) => number;
const chmodFn = libc.func('int chmod(const char *path, uint32_t mode)') as (p: string, m: number) => number;
// setxattr (not lsetxattr): it must follow the /proc/self/fd magic link to the fd's own inode.
const setxattrFn = libc.func('int setxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)') as (
  p: string,
  name: string,
  v: Uint8Array,
  size: number,
  flags: number,
) => number;

let haveFchmodat2 = true;
const statBuf = Buffer.alloc(STATX_SIZE);

/** O_PATH fd of `name` (one component, NUL-terminated) in dirfd, or of an absolute path with dirfd -100; fd or -errno. */
export function openEntryRaw(dirfd: number, name: Buffer): number {
  const fd = openatCall(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
  return fd >= 0 ? fd : -lastErrno();
}

export function closeEntry(fd: number): void {
  closeCall(fd);
}

/**
 * 0 when fd is the inode (dev, ino) — dev as major · 2^32 + minor, NaN for
 * unknown (ino only) —, -ESTALE when it is another, or -errno. isSymlink
 * tells whether it is a symlink (no mode, ACLs or capabilities of its own).
 */
export function checkEntryRaw(fd: number, ino: number, dev: number): { readonly rc: number; readonly isSymlink: boolean } {
  if (statxCall(fd, EMPTY, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MASK, statBuf) !== 0) return { rc: -lastErrno(), isSymlink: false };
  const nowIno = statxIno(statBuf);
  const nowDev = statxDev(statBuf);
  const isSymlink = (statBuf.readUInt16LE(STATX.mode) & 0o170000) === 0o120000;
  if (nowIno !== ino || (!Number.isNaN(dev) && nowDev !== dev)) return { rc: -ESTALE, isSymlink };
  return { rc: 0, isSymlink };
}

/** fchownat(fd, "", AT_EMPTY_PATH): the entry itself (a symlink too). 0 or -errno. */
export function chownEntryRaw(fd: number, uid: number, gid: number): number {
  return fchownatCall(fd, EMPTY, uid, gid, AT_EMPTY_PATH) === 0 ? 0 : -lastErrno();
}

/** chmod of the entry (never a symlink): fchmodat2(AT_EMPTY_PATH), or chmod of its /proc/self/fd path before Linux 6.6. 0 or -errno. */
export function chmodEntryRaw(fd: number, mode: number): number {
  if (haveFchmodat2) {
    if (fchmodat2Fn(SYS_FCHMODAT2, fd, EMPTY, mode & 0o7777, AT_EMPTY_PATH) === 0) return 0;
    const errno = lastErrno();
    if (errno !== ENOSYS && errno !== EINVAL) return -errno;
    haveFchmodat2 = false;
  }
  return chmodFn(`/proc/self/fd/${fd}`, mode & 0o7777) === 0 ? 0 : -lastErrno();
}

/**
 * setxattr of the entry (never a symlink) through /proc/self/fd/N, a magic
 * link to the fd's own inode: no xattr call takes an O_PATH fd. 0 or -errno
 * (-ENOENT without /proc: the caller says so).
 */
export function setXattrEntryRaw(fd: number, name: string, value: Uint8Array): number {
  return setxattrFn(`/proc/self/fd/${fd}`, name, value, value.length, 0) === 0 ? 0 : -lastErrno();
}
