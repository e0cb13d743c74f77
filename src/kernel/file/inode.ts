import { libc, lastErrno, syscallError, statxCall, fchownatCall } from '../libc.js';
import { cpath } from './xattr.js';
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  AT_SYMLINK_NOFOLLOW,
  EWOULDBLOCK,
  LOCK_EX,
  LOCK_NB,
  LOCK_UN,
  STATX_ATTR_MOUNT_ROOT,
  STATX_SIZE,
} from '../linux.js';
export { STATX_ATTR_MOUNT_ROOT, STATX_SIZE } from '../linux.js';

/**
 * The per-inode calls a tree shift makes: statx, lchown, chmod that never
 * follows a symlink, syncfs, flock. Raw variants return 0 / -errno and never
 * throw, for loops over 10^5 paths; the caller names the path in its error.
 */

/** STATX_TYPE|MODE|NLINK|UID|GID|INO and STATX_MNT_ID. */
const STATX_MASK = 0x1f | 0x100 | 0x1000;
/** stx_attributes bit: the path is the root of a mount (Linux 5.8). */

/** Byte offsets in struct statx (include/uapi/linux/stat.h). */
export const STATX = {
  mask: 0,
  attributes: 8,
  nlink: 16,
  uid: 20,
  gid: 24,
  mode: 28,
  ino: 32,
  devMajor: 136,
  devMinor: 140,
  mntId: 144,
} as const;

const lchownFn = libc.func('int lchown(const uint8_t *path, uint32_t owner, uint32_t group)') as (
  p: Buffer,
  u: number,
  g: number,
) => number;
const fchmodatFn = libc.func('int fchmodat(int dirfd, const uint8_t *path, uint32_t mode, int flags)') as (
  d: number,
  p: Buffer,
  m: number,
  f: number,
) => number;
const syncfsFn = libc.func('int syncfs(int fd)') as (fd: number) => number;
const syncFn = libc.func('void sync()') as () => void;
const flockFn = libc.func('int flock(int fd, int operation)') as (fd: number, op: number) => number;

/** lstat-like statx into buf (STATX_SIZE bytes); 0 or -errno. */
export function statxRaw(path: Buffer, buf: Buffer): number {
  return statxCall(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_MASK, buf) === 0 ? 0 : -lastErrno();
}

/** statx of `name` inside the directory dirfd, not following a final symlink; 0 or -errno. */
export function statxAtRaw(dirfd: number, name: Buffer, buf: Buffer): number {
  return statxCall(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_MASK, buf) === 0 ? 0 : -lastErrno();
}

/** statx of an open fd (AT_EMPTY_PATH); 0 or -errno. */
export function fstatxRaw(fd: number, buf: Buffer): number {
  return statxCall(fd, Buffer.from([0]), AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MASK, buf) === 0 ? 0 : -lastErrno();
}

/** lchown(2): the link itself, never its target. 0 or -errno. */
export function lchownRaw(path: Buffer, uid: number, gid: number): number {
  return lchownFn(path, uid, gid) === 0 ? 0 : -lastErrno();
}

/** fchownat(dirfd, name, AT_SYMLINK_NOFOLLOW): the entry itself, relative to an open directory. 0 or -errno. */
export function lchownAtRaw(dirfd: number, name: Buffer, uid: number, gid: number): number {
  return fchownatCall(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) === 0 ? 0 : -lastErrno();
}

/** fchmodat(dirfd, name, mode, AT_SYMLINK_NOFOLLOW). 0 or -errno. */
export function chmodAtNoFollowRaw(dirfd: number, name: Buffer, mode: number): number {
  return fchmodatFn(dirfd, name, mode & 0o7777, AT_SYMLINK_NOFOLLOW) === 0 ? 0 : -lastErrno();
}

/** chmod that refuses to follow a final symlink (fchmodat AT_SYMLINK_NOFOLLOW). 0 or -errno. */
export function chmodNoFollowRaw(path: Buffer, mode: number): number {
  return fchmodatFn(AT_FDCWD, path, mode & 0o7777, AT_SYMLINK_NOFOLLOW) === 0 ? 0 : -lastErrno();
}

/** stx_ino of a filled statx buffer (exact below 2^53). For hot loops: no object. */
export function statxIno(buf: Buffer): number {
  return buf.readUInt32LE(STATX.ino + 4) * 2 ** 32 + buf.readUInt32LE(STATX.ino);
}

/** The device of a filled statx buffer as one number, major · 2^32 + minor (the plan's and journal's dev column). */
export function statxDev(buf: Buffer): number {
  return buf.readUInt32LE(STATX.devMajor) * 2 ** 32 + buf.readUInt32LE(STATX.devMinor);
}

/** What statx says of one path, for callers outside hot loops. */
export interface InodeStat {
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly nlink: number;
  readonly ino: number;
  readonly dev: { major: number; minor: number };
  readonly mntId: number;
  readonly mountRoot: boolean;
}

export function readStatx(buf: Buffer): InodeStat {
  return {
    uid: buf.readUInt32LE(STATX.uid),
    gid: buf.readUInt32LE(STATX.gid),
    mode: buf.readUInt16LE(STATX.mode),
    nlink: buf.readUInt32LE(STATX.nlink),
    ino: statxIno(buf),
    dev: { major: buf.readUInt32LE(STATX.devMajor), minor: buf.readUInt32LE(STATX.devMinor) },
    mntId: buf.readUInt32LE(STATX.mntId + 4) * 2 ** 32 + buf.readUInt32LE(STATX.mntId),
    mountRoot: (buf.readUInt32LE(STATX.attributes) & STATX_ATTR_MOUNT_ROOT) !== 0,
  };
}

export function lstatx(path: string | Uint8Array): InodeStat {
  const p = cpath(path);
  const buf = Buffer.alloc(STATX_SIZE);
  const r = statxRaw(p, buf);
  if (r < 0) throw syscallError('statx', p.subarray(0, -1).toString('utf8'), -r);
  return readStatx(buf);
}

/** syncfs(2): everything on the filesystem that holds fd reaches the disk. */
export function syncFilesystem(fd: number, what: string): void {
  if (syncfsFn(fd) !== 0) throw syscallError('syncfs', what);
}

/** sync(2): every filesystem (for work that spans several). */
export function syncAll(): void {
  syncFn();
}

/** flock(LOCK_EX|LOCK_NB): true when taken, false when another process holds it. Released when fd closes. */
export function tryLockExclusive(fd: number, what: string): boolean {
  if (flockFn(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const errno = lastErrno();
  if (errno === EWOULDBLOCK) return false;
  throw syscallError('flock', what, errno);
}

export function unlock(fd: number): void {
  flockFn(fd, LOCK_UN);
}
