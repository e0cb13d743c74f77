import { libc, lastErrno, syscallError } from './libc.js';

/**
 * lgetxattr(2) for the read-only tools (fsidmap explain): reads an extended
 * attribute of a path without following a final symlink. Absent attributes
 * and filesystems without xattrs read as null; other failures throw a
 * SyscallError naming the path. (src/kernel/xattr.ts, the shifting side,
 * is a separate concern.)
 */
const lgetxattrFn = libc.func('long lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)') as
  (path: string, name: string, value: Buffer | null, size: number) => number;

const ENODATA = 61, ENOTSUP = 95, ERANGE = 34, ENOENT = 2;

let scratch = Buffer.alloc(256);

export function readXattr(path: string, name: string): Buffer | null {
  for (;;) {
    const n = lgetxattrFn(path, name, scratch, scratch.length);
    if (n >= 0) return Buffer.from(scratch.subarray(0, n));
    const errno = lastErrno();
    if (errno === ENODATA || errno === ENOTSUP || errno === ENOENT) return null;
    if (errno === ERANGE) {
      const size = lgetxattrFn(path, name, null, 0);
      if (size < 0) throw syscallError('lgetxattr', path);
      scratch = Buffer.alloc(Math.max(size, scratch.length * 2));
      continue;
    }
    throw syscallError('lgetxattr', `${path}, ${name}`, errno);
  }
}

/** The POSIX access ACL xattr of a path, raw, or null. */
export function readAccessAcl(path: string): Buffer | null {
  return readXattr(path, 'system.posix_acl_access');
}
