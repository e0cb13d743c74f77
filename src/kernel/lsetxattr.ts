import { libc, syscallError } from './libc.js';

/**
 * lsetxattr(2): sets an extended attribute on a path without following a
 * final symlink (node:fs has no xattr calls). The unpacker sets POSIX ACLs
 * (system.posix_acl_*), file capabilities (security.capability) and user.*
 * xattrs with it. Throws SyscallError: ENOTSUP/EOPNOTSUPP when the
 * filesystem lacks xattrs of that namespace, EPERM for trusted.* or
 * security.* without the capability.
 */
const lsetxattrC = libc.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)') as (
  path: string, name: string, value: Buffer, size: number, flags: number,
) => number;

export function lsetxattr(path: string, name: string, value: Buffer): void {
  if (lsetxattrC(path, name, value, value.length, 0) !== 0) {
    throw syscallError('lsetxattr', `${path}, ${name}`, undefined, {
      EOPNOTSUPP: 'the filesystem does not support this xattr namespace',
      EPERM: 'setting this xattr needs a capability the caller lacks (trusted.* needs CAP_SYS_ADMIN in the initial namespace)',
      EINVAL: 'the kernel rejected the value (a malformed ACL or capability, or an id not mapped in this namespace)',
    });
  }
}
