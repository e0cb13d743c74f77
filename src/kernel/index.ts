/**
 * The kernel adapter: the only code that makes system calls. Idmapped
 * mounts (open_tree, mount_setattr, move_mount), user-namespace holders and
 * /proc map writes (checked first), the support probe, and the C stage that
 * starts containers.
 */
export { SyscallError, errnoName } from './libc.js';
export { type MountEntry, parseMountinfo, readMountinfo, mountOf, isIdmapped, mountsUnder } from './mount/mountinfo.js';
export {
  type NamespaceMaps,
  type CheckedMaps,
  writeNamespaceMaps,
  checkMaps,
  isCheckedMaps,
  readOwnMaps,
  assertMapWritable,
  ownMap,
} from './userns/proc-maps.js';
export { type UsernsHolder, createUserns, holdUserns } from './userns/userns-holder.js';
export {
  type DetachedMount,
  type DetachedMountOptions,
  makeDetachedMount,
  attachMount,
  unmountIdmapped,
  describeMaps,
} from './mount/idmapped-mount.js';
export { explainIdmapFailure, alreadyIdmapped } from './mount/mount-errors.js';
export { stagePath } from './userns/stage.js';
export { pidfdOpen, pidfdSendSignal, closeFd } from './syscalls.js';
