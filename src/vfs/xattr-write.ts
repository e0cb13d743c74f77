import type { Cred } from '../userns/cred.js';
import type { Trace } from '../userns/trace.js';
import { fsViewOf } from './fs-view.js';
import { type Inode, MAY_WRITE, S_ISVTX } from './inode.js';
import { type Mount, inodeVfsid } from './mount.js';
import { type Check, inodeOwnerOrCapable, inodePermission } from './permission.js';

/**
 * Writing extended attributes and ACLs (fs/xattr.c, fs/posix_acl.c), the
 * checks that differ through an idmapped mount. Immutable and append-only
 * inodes are not modelled.
 */

/** may_write_xattr: an inode whose owner or group the mount cannot map takes no xattr at all (HAS_UNMAPPED_ID, EPERM). */
export function mayWriteXattr(mount: Mount, inode: Inode): Check {
  if (inodeVfsid(mount.idmap, inode, 'uid') === undefined || inodeVfsid(mount.idmap, inode, 'gid') === undefined)
    return {
      ok: false,
      errno: 'EPERM',
      rule: 'may_write_xattr',
      why: `HAS_UNMAPPED_ID: the on-disk owner ${inode.diskUid ?? '?'}:${inode.diskGid ?? '?'} has no mapping in the ${mount.idmap ? `idmapped mount (maps of ${mount.idmap.from})` : 'mount'}, so no xattr or ACL may be set on it`,
    };
  return { ok: true, rule: 'may_write_xattr', why: 'the owner and group map through the mount' };
}

/** setxattr("user.…"): may_write_xattr, then xattr_permission (files and directories only; a sticky directory's owner), then inode_permission(MAY_WRITE). */
export function userXattrWriteOk(cred: Cred, mount: Mount, inode: Inode, t: Trace): Check {
  const w = mayWriteXattr(mount, inode);
  if (!w.ok) return w;
  if (inode.type !== 'file' && inode.type !== 'dir')
    return { ok: false, errno: 'EPERM', rule: 'xattr_permission', why: 'user.* xattrs exist on regular files and directories only' };
  if (inode.isDir && inode.mode & S_ISVTX) {
    const o = inodeOwnerOrCapable(cred, mount, inode);
    if (!o.ok)
      return {
        ok: false,
        errno: 'EPERM',
        rule: 'xattr_permission',
        why: `a sticky directory takes user.* xattrs from its owner only: ${o.why}`,
      };
  }
  return inodePermission(cred, mount, inode, MAY_WRITE, t);
}

/**
 * setxattr("system.posix_acl_access") naming `id` (inside the caller's
 * namespace): the entry must map into the namespace (posix_acl_from_xattr,
 * EINVAL), then may_write_xattr, then the owner or CAP_FOWNER over a mapped
 * owner (EPERM).
 */
export function setAclOk(cred: Cred, mount: Mount, inode: Inode, id: number): Check {
  const view = fsViewOf(inode.sb);
  const ns = cred.userNs;
  if (view.make(ns, 'uid', id) === undefined)
    return { ok: false, errno: 'EINVAL', rule: 'posix_acl_from_xattr', why: `the ACL entry's uid ${id} is not mapped in ${ns.name}` };
  const w = mayWriteXattr(mount, inode);
  if (!w.ok) return w;
  const o = inodeOwnerOrCapable(cred, mount, inode);
  return o.ok
    ? { ok: true, rule: 'vfs_set_acl', why: `may set an access ACL: ${o.why}` }
    : { ok: false, errno: 'EPERM', rule: 'vfs_set_acl', why: `setting an ACL needs ownership or CAP_FOWNER: ${o.why}` };
}
