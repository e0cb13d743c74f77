import { nsCapable } from '../userns/capable.js';
import type { UserNamespace } from '../userns/namespace.js';
import type { Task } from '../userns/task.js';
import { type Outcome, Trace, failure, success } from '../userns/trace.js';
import { formatInline } from '../idmap/index.js';
import { type Mount, idmapFromNs } from './mount.js';
import type { Vfs } from './vfs.js';

/**
 * open_tree(OPEN_TREE_CLONE) + mount_setattr(MOUNT_ATTR_IDMAP, userns_fd)
 * + move_mount: a bind mount of `source` at `target` that translates owners
 * through `ns`'s id maps (copied now, as copy_mnt_idmap does). The checks
 * are may_mount (CAP_SYS_ADMIN over the caller's own namespace, standing in
 * for its mount namespace's owner), build_mount_idmapped (not the initial
 * namespace: EPERM; a namespace without maps: EINVAL) and can_idmap_mount
 * (an already idmapped mount: EPERM; a filesystem that does not allow
 * idmapping, like proc: EINVAL; CAP_SYS_ADMIN over the superblock's
 * s_user_ns: EPERM, so host privilege for a disk filesystem).
 */
export function makeIdmappedMount(vfs: Vfs, task: Task, source: string, target: string, ns: UserNamespace): Outcome<Mount> {
  const t = new Trace();
  const cred = task.cred;
  const mayMount = nsCapable(cred, cred.userNs, 'CAP_SYS_ADMIN');
  if (!mayMount.ok) return failure(t, 'EPERM', 'may_mount', `open_tree(OPEN_TREE_CLONE) needs CAP_SYS_ADMIN: ${mayMount.why}`);
  const r = vfs.walk(task, source, t);
  if (!r.ok) return failure(t, r.errno, r.rule, r.why);
  if (!r.at.inode) return failure(t, 'ENOENT', 'open_tree', `${source} does not exist`);
  const src = r.at.inode,
    srcMount = r.at.mount;
  if (!src.isDir) return failure(t, 'ENOTDIR', 'open_tree', 'the model mounts directories only');
  if (ns.parent === null) return failure(t, 'EPERM', 'build_mount_idmapped', 'the initial user namespace cannot be used as an idmapping');
  if (!ns.isWritten('uid') && !ns.isWritten('gid')) return failure(t, 'EINVAL', 'copy_mnt_idmap', `${ns.name} has no maps written`);
  if (srcMount.idmap !== null)
    return failure(t, 'EPERM', 'can_idmap_mount', `${srcMount.path} is already idmapped; an idmapping cannot be changed`);
  if (src.sb.kind !== 'ordinary')
    return failure(t, 'EINVAL', 'can_idmap_mount', `${src.sb.name} does not allow idmapped mounts (no FS_ALLOW_IDMAP)`);
  const admin = nsCapable(cred, src.sb.userNs, 'CAP_SYS_ADMIN');
  if (!admin.ok)
    return failure(
      t,
      'EPERM',
      'can_idmap_mount',
      `needs CAP_SYS_ADMIN over the filesystem's s_user_ns ${src.sb.userNs.name}: ${admin.why}`,
    );
  const w = vfs.walk(task, target, t);
  if (!w.ok) return failure(t, w.errno, w.rule, w.why);
  if (!w.at.inode || !w.at.inode.isDir) return failure(t, 'ENOENT', 'move_mount', `mount point ${target} is not an existing directory`);
  const idmap = idmapFromNs(ns);
  const m = vfs.mount(target, src, idmap);
  return success(
    t,
    'mount_setattr',
    `${source} mounted at ${target} with the id maps of ${ns.name} (uid ${formatInline(idmap.uid)}, gid ${formatInline(idmap.gid)})`,
    m,
  );
}
