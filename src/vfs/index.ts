/**
 * The simulated VFS: superblocks (ordinary or userns-visible), inodes with
 * owners, modes and POSIX ACLs, bind mounts (optionally idmapped), and the
 * kernel's ownership and permission rules over them. Pure: no I/O.
 */
export * from './inode.js';
export * from './mount.js';
export { fsViewOf, type FsView } from './fs-view.js';
export {
  type Check,
  aclPermissionCheck,
  genericPermission,
  inodePermission,
  privilegedWrtInodeUidgid,
  capableWrtInodeUidgid,
  inodeOwnerOrCapable,
  inGroupOrCapable,
  maskName,
} from './permission.js';
export { Vfs, normalizePath, type Walked, type WalkResult } from './vfs.js';
export { stat, statOf, open, create, mayCreateIn, type StatResult, type OpenAccess, type CreateResult } from './ops.js';
export { chown, chownInode, chmod, utimes, chownOk, chgrpOk, type AttrResult } from './attr.js';
export { remove, mayDelete, checkSticky } from './delete.js';
export { makeIdmappedMount } from './idmapped.js';
