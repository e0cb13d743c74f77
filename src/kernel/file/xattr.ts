import { libc, lastErrno, syscallError } from '../libc.js';
import { ENODATA, ENOENT, ENOTSUP, ERANGE } from '../linux.js';

/**
 * Extended attributes of a path, never following a final symlink
 * (lgetxattr/lsetxattr/llistxattr/lremovexattr). Paths are byte strings:
 * `cpath()` makes the NUL-terminated buffer the calls take, so file names
 * that are not UTF-8 pass through unchanged.
 *
 * Two layers: `*Raw` calls return the byte count or -errno and never throw
 * (tree walkers call them 10^5 times and turn the rare failure into one
 * error naming the path); the plain calls throw SyscallError. The one module
 * that binds these calls: the tree shifter, the tar unpacker (setXattr) and
 * the read-only explain walk (getXattrLenient) all use it.
 */

const llistxattr = libc.func('long llistxattr(const uint8_t *path, uint8_t *list, size_t size)') as (
  p: Buffer,
  list: Buffer | null,
  size: number,
) => number;
const lgetxattr = libc.func('long lgetxattr(const uint8_t *path, const char *name, uint8_t *value, size_t size)') as (
  p: Buffer,
  name: string,
  value: Buffer | null,
  size: number,
) => number;
const lsetxattr = libc.func('int lsetxattr(const uint8_t *path, const char *name, const uint8_t *value, size_t size, int flags)') as (
  p: Buffer,
  name: string,
  value: Uint8Array,
  size: number,
  flags: number,
) => number;
const lremovexattr = libc.func('int lremovexattr(const uint8_t *path, const char *name)') as (p: Buffer, name: string) => number;

/** A path as the kernel takes it: its bytes and a NUL. Strings are taken as UTF-8, buffers as they are. */
export function cpath(path: string | Uint8Array): Buffer {
  const bytes = typeof path === 'string' ? Buffer.from(path, 'utf8') : Buffer.from(path.buffer, path.byteOffset, path.byteLength);
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0) return bytes;
  const out = Buffer.allocUnsafe(bytes.length + 1);
  bytes.copy(out);
  out[bytes.length] = 0;
  return out;
}

function display(p: Buffer): string {
  return p.subarray(0, p.length - 1).toString('utf8');
}

// The kernel allocates a buffer of the size asked for (fs/xattr.c), so a
// small first guess is faster than a generous one; ERANGE asks again.
const FIRST_GUESS = 1024;
let scratch = Buffer.alloc(FIRST_GUESS);

/** The xattr names of path; on failure -errno. */
export function listXattrsRaw(path: Buffer): string[] | number {
  for (;;) {
    const n = llistxattr(path, scratch, scratch.length);
    if (n >= 0) return n === 0 ? [] : scratch.toString('latin1', 0, n - 1).split('\0');
    const errno = lastErrno();
    if (errno !== ERANGE) return -errno;
    const need = llistxattr(path, null, 0);
    if (need < 0) return -lastErrno();
    scratch = Buffer.alloc(Math.max(need, scratch.length * 2));
  }
}

/** The value of one xattr; null when absent (ENODATA); on other failures -errno. */
export function getXattrRaw(path: Buffer, name: string): Buffer | null | number {
  for (;;) {
    const n = lgetxattr(path, name, scratch, scratch.length);
    if (n >= 0) return Buffer.from(scratch.subarray(0, n));
    const errno = lastErrno();
    if (errno === ENODATA) return null;
    if (errno !== ERANGE) return -errno;
    const need = lgetxattr(path, name, null, 0);
    if (need < 0) return -lastErrno();
    scratch = Buffer.alloc(Math.max(need, scratch.length * 2));
  }
}

/** 0 or -errno. */
export function setXattrRaw(path: Buffer, name: string, value: Uint8Array): number {
  return lsetxattr(path, name, value, value.length, 0) === 0 ? 0 : -lastErrno();
}

/** 0, or -errno (ENODATA when there was nothing to remove). */
export function removeXattrRaw(path: Buffer, name: string): number {
  return lremovexattr(path, name) === 0 ? 0 : -lastErrno();
}

export function listXattrs(path: string | Uint8Array): string[] {
  const p = cpath(path);
  const r = listXattrsRaw(p);
  if (typeof r === 'number') throw syscallError('llistxattr', display(p), -r);
  return r;
}

/** The value of name on path; null when absent (ENODATA). */
export function getXattr(path: string | Uint8Array, name: string): Buffer | null {
  return getXattrOrNull(path, name, []);
}

/**
 * Like getXattr, but a filesystem without xattrs (ENOTSUP) or a path that is
 * gone (ENOENT) also reads as null: for read-only walks (fsidmap explain),
 * which show such a file as having no ACL and skip entries that vanish.
 */
export function getXattrLenient(path: string | Uint8Array, name: string): Buffer | null {
  return getXattrOrNull(path, name, [ENOTSUP, ENOENT]);
}

/** getXattrRaw that throws, except that the errnos in `absent` also read as null. */
function getXattrOrNull(path: string | Uint8Array, name: string, absent: readonly number[]): Buffer | null {
  const p = cpath(path);
  const r = getXattrRaw(p, name);
  if (typeof r !== 'number') return r;
  if (absent.includes(-r)) return null;
  throw syscallError('lgetxattr', `${display(p)}, ${name}`, -r);
}

/**
 * Sets name on path (the unpacker sets POSIX ACLs, file capabilities and
 * user.* xattrs with it). Throws SyscallError: EOPNOTSUPP when the
 * filesystem lacks xattrs of that namespace, EPERM for trusted.* or
 * security.* without the capability, EINVAL for a value the kernel refuses.
 */
export function setXattr(path: string | Uint8Array, name: string, value: Uint8Array): void {
  const p = cpath(path);
  const r = setXattrRaw(p, name, value);
  if (r < 0) {
    throw syscallError('lsetxattr', `${display(p)}, ${name}`, -r, {
      EOPNOTSUPP: 'the filesystem does not support this xattr namespace (mounted without acl/user_xattr?)',
      EPERM: 'setting this xattr needs a capability the caller lacks (trusted.* needs CAP_SYS_ADMIN in the initial namespace)',
      EINVAL: 'the kernel rejected the value (a malformed ACL or capability, or an id not mapped in this namespace)',
    });
  }
}

/** Removes name; returns false when it was not there. */
export function removeXattr(path: string | Uint8Array, name: string): boolean {
  const p = cpath(path);
  const r = removeXattrRaw(p, name);
  if (r === -ENODATA) return false;
  if (r < 0) throw syscallError('lremovexattr', `${display(p)}, ${name}`, -r);
  return true;
}
