import { openSync, closeSync } from 'node:fs';
import { lastErrno, libc } from '../libc.js';

/**
 * A namespace's file handle (nsfs supports name_to_handle_at and
 * open_by_handle_at since Linux 6.18): a 64-bit namespace id the kernel
 * never reuses within a boot, its type and inode. Asking whether a handle
 * still opens is asking the kernel whether the namespace exists — whoever
 * keeps it alive, visible or not: a process, an nsfs descriptor in a
 * process, a bind mount, a descriptor in flight in a socket's queue, another
 * namespace it owns, a child. No /proc walk can see all of those; the
 * kernel's own table of namespaces can.
 */
export interface NsHandle {
  readonly type: number;
  /** f_handle bytes, hex. */
  readonly bytes: string;
}

const AT_EMPTY_PATH = 0x1000;
const ESTALE = 116;
const O_RDONLY_CLOEXEC = 0o2000000;
const MAX_HANDLE_SZ = 128;
/** struct file_handle { __u32 handle_bytes; int handle_type; unsigned char f_handle[]; } */
const HEADER = 8;

const nameToHandleAt = libc.func(
  'int name_to_handle_at(int dirfd, const char *path, _Inout_ uint8_t *handle, _Out_ int *mountId, int flags)',
) as (dirfd: number, path: string, handle: Buffer, mountId: number[], flags: number) => number;
const openByHandleAt = libc.func('int open_by_handle_at(int mountFd, uint8_t *handle, int flags)') as (
  mountFd: number,
  handle: Buffer,
  flags: number,
) => number;
const close_ = libc.func('int close(int fd)') as (fd: number) => number;

/** The handle of the namespace fd names, or null where the kernel gives none (before 6.18: EOPNOTSUPP). */
export function nsHandleOf(fd: number): NsHandle | null {
  const buf = Buffer.alloc(HEADER + MAX_HANDLE_SZ);
  buf.writeUInt32LE(MAX_HANDLE_SZ, 0);
  if (nameToHandleAt(fd, '', buf, [0], AT_EMPTY_PATH) !== 0) return null;
  const n = buf.readUInt32LE(0);
  return { type: buf.readInt32LE(4), bytes: buf.subarray(HEADER, HEADER + n).toString('hex') };
}

/**
 * Whether the namespace still exists: true when the handle opens, false on
 * ESTALE (gone), null when the kernel cannot say (another error: then the
 * caller must assume it exists).
 */
export function nsHandleAlive(h: NsHandle): boolean | null {
  const bytes = Buffer.from(h.bytes, 'hex');
  const buf = Buffer.alloc(HEADER + bytes.length);
  buf.writeUInt32LE(bytes.length, 0);
  buf.writeInt32LE(h.type, 4);
  bytes.copy(buf, HEADER);
  // Any nsfs descriptor serves as the "mount" the handle is resolved on.
  const mountFd = openSync('/proc/self/ns/user', 'r');
  try {
    const fd = openByHandleAt(mountFd, buf, O_RDONLY_CLOEXEC);
    if (fd >= 0) {
      close_(fd);
      return true;
    }
    return lastErrno() === ESTALE ? false : null;
  } finally {
    closeSync(mountFd);
  }
}
