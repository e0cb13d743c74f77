import { constants } from 'node:fs';
import { libc, lastErrno, openatCall, closeCall } from '../libc.js';
import { AT_SYMLINK_NOFOLLOW, ENOSYS, ERANGE, SYS_LISTXATTRAT } from '../linux.js';

/**
 * Directories read through a file descriptor: open one directory without
 * following a symlink, list it with getdents64, then stat and list xattrs of
 * its entries relative to the fd (no path lookup from the root each time).
 * Raw calls: results or -errno, never throws.
 */
const openFn = libc.func('int open(const uint8_t *path, int flags, uint32_t mode)') as (p: Buffer, f: number, m: number) => number;
const getdentsFn = libc.func('long getdents64(int fd, uint8_t *buf, size_t count)') as (fd: number, buf: Buffer, n: number) => number;
// listxattrat(2), Linux 6.13. glibc's syscall() ignores how it was declared,
// so a fixed prototype avoids koffi's slower variadic path.
const listxattratFn = libc.func(
  'long syscall(long nr, int dirfd, const uint8_t *path, unsigned int flags, uint8_t *list, size_t size)',
) as (nr: number, d: number, p: Buffer, f: number, list: Buffer | null, size: number) => number;

const O_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | 0o2000000; /* O_CLOEXEC */

/** Opens a directory by absolute path; a final symlink fails (ELOOP/ENOTDIR). fd or -errno. */
export function openDirectoryRaw(path: Buffer): number {
  const fd = openFn(path, O_DIR, 0);
  return fd >= 0 ? fd : -lastErrno();
}

/** Opens the directory `name` inside the directory dirfd. fd or -errno. */
export function openDirectoryAtRaw(dirfd: number, name: Buffer): number {
  const fd = openatCall(dirfd, name, O_DIR, 0);
  return fd >= 0 ? fd : -lastErrno();
}

export function closeRaw(fd: number): void {
  closeCall(fd);
}

/** d_type values (DT_*). */
export const DT = { UNKNOWN: 0, FIFO: 1, CHR: 2, DIR: 4, BLK: 6, REG: 8, LNK: 10, SOCK: 12 } as const;

export interface DirectoryListing {
  /** Names as latin1 strings (bytes preserved), without "." and "..". */
  readonly names: string[];
  readonly types: number[];
}

let dentBuf = Buffer.alloc(32768);

/** Every entry of an open directory. Listing or -errno. */
export function listDirectoryRaw(fd: number): DirectoryListing | number {
  const names: string[] = [];
  const types: number[] = [];
  for (;;) {
    const n = getdentsFn(fd, dentBuf, dentBuf.length);
    if (n === 0) return { names, types };
    if (n < 0) {
      const errno = lastErrno();
      if (errno === 22 /* EINVAL: buffer too small for one entry */) {
        dentBuf = Buffer.alloc(dentBuf.length * 2);
        continue;
      }
      return -errno;
    }
    // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
    for (let at = 0; at < n;) {
      const reclen = dentBuf.readUInt16LE(at + 16);
      const type = dentBuf[at + 18];
      const start = at + 19;
      const end = dentBuf.indexOf(0, start);
      at += reclen;
      const len = end - start;
      if ((len === 1 && dentBuf[start] === 0x2e) || (len === 2 && dentBuf[start] === 0x2e && dentBuf[start + 1] === 0x2e)) continue;
      names.push(dentBuf.toString('latin1', start, end));
      types.push(type);
    }
  }
}

let listxattratMissing = false;
let xattrBuf = Buffer.alloc(1024);

/**
 * The xattr names of `name` in dirfd, not following a final symlink:
 * listxattrat(2) where the kernel has it, else undefined (the caller falls
 * back to llistxattr on the full path). Names, or -errno.
 */
export function listXattrsAtRaw(dirfd: number, name: Buffer): string[] | number | undefined {
  if (listxattratMissing) return undefined;
  for (;;) {
    const n = listxattratFn(SYS_LISTXATTRAT, dirfd, name, AT_SYMLINK_NOFOLLOW, xattrBuf, xattrBuf.length);
    if (n >= 0) return n === 0 ? [] : xattrBuf.toString('latin1', 0, n - 1).split('\0');
    const errno = lastErrno();
    if (errno === ENOSYS) {
      listxattratMissing = true;
      return undefined;
    }
    if (errno !== ERANGE) return -errno;
    xattrBuf = Buffer.alloc(xattrBuf.length * 4);
  }
}
