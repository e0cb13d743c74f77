import type { Cred } from '../userns/cred.js';
import { showKid } from '../userns/lookup.js';
import type { Task } from '../userns/task.js';
import { type Outcome, Trace, failure, success } from '../userns/trace.js';
import { fsViewOf } from './fs-view.js';
import { type Inode, MAY_EXEC, MAY_WRITE, S_ISVTX } from './inode.js';
import { type Mount, describeIdmap, inodeVfsid } from './mount.js';
import { type Check, capableWrtInodeUidgid, inodePermission } from './permission.js';
import type { Vfs } from './vfs.js';

/**
 * __check_sticky (fs/namei.c): in a sticky directory only the file's owner,
 * the directory's owner, or capable_wrt_inode_uidgid(CAP_FOWNER) — which,
 * unlike inode_owner_or_capable, needs the file's owner *and* group mapped
 * (the differential test against the kernel caught this) — may remove or
 * rename an entry.
 */
export function checkSticky(cred: Cred, mount: Mount, dir: Inode, inode: Inode): Check {
  if (!(dir.mode & S_ISVTX)) return { ok: true, rule: 'check_sticky', why: 'the directory is not sticky' };
  const view = fsViewOf(inode.sb);
  const fsuid = view.currentFsid(cred, 'uid');
  if (inodeVfsid(mount.idmap, inode, 'uid') === fsuid)
    return { ok: true, rule: '__check_sticky', why: `sticky directory, but fsuid ${showKid(fsuid)} owns the file` };
  if (inodeVfsid(mount.idmap, dir, 'uid') === fsuid)
    return { ok: true, rule: '__check_sticky', why: `sticky directory, and fsuid ${showKid(fsuid)} owns the directory` };
  const o = capableWrtInodeUidgid(cred, mount, inode, 'CAP_FOWNER');
  return o.ok
    ? { ok: true, rule: '__check_sticky', why: `sticky directory: ${o.why}` }
    : {
        ok: false,
        errno: 'EPERM',
        rule: '__check_sticky',
        why: `sticky directory: neither the file's nor the directory's owner, and ${o.why}`,
      };
}

/**
 * may_delete (fs/namei.c), in its order: the victim exists; its owner must be
 * mappable through the mount (EOVERFLOW); write+search on the directory;
 * the sticky rule and HAS_UNMAPPED_ID (EPERM); then the type checks.
 */
export function mayDelete(cred: Cred, mount: Mount, dir: Inode, victim: Inode, isdir: boolean, t: Trace): Check {
  if (inodeVfsid(mount.idmap, victim, 'uid') === undefined || inodeVfsid(mount.idmap, victim, 'gid') === undefined) {
    return {
      ok: false,
      errno: 'EOVERFLOW',
      rule: 'may_delete',
      why: `the victim's on-disk owner ${victim.diskUid}:${victim.diskGid} has no mapping in ${describeIdmap(mount)}`,
    };
  }
  const w = inodePermission(cred, mount, dir, MAY_WRITE | MAY_EXEC, t);
  if (!w.ok) return { ...w, why: `cannot write the directory: ${w.why}` };
  const s = checkSticky(cred, mount, dir, victim);
  if (!s.ok) return s;
  t.allow(s.rule, s.why);
  if (isdir && !victim.isDir) return { ok: false, errno: 'ENOTDIR', rule: 'may_delete', why: 'not a directory' };
  if (!isdir && victim.isDir) return { ok: false, errno: 'EISDIR', rule: 'may_delete', why: 'is a directory (use rmdir)' };
  return { ok: true, rule: 'may_delete', why: w.why };
}

/** unlink(2) and rmdir(2). A mount point cannot be removed (EBUSY); a directory must be empty (ENOTEMPTY). */
export function remove(vfs: Vfs, task: Task, path: string, isdir: boolean): Outcome {
  const t = new Trace();
  const r = vfs.walk(task, path, t);
  if (!r.ok) return failure(t, r.errno, r.rule, r.why);
  const { parent, parentMount, inode: found, name } = r.at;
  if (name === '') return failure(t, 'EBUSY', 'may_delete', 'the root cannot be removed');
  const victim = parent.children!.get(name);
  if (!found || !victim) return failure(t, 'ENOENT', 'may_delete', `${path} does not exist`);
  const c = mayDelete(task.cred, parentMount, parent, victim, isdir, t);
  if (!c.ok) return failure(t, c.errno ?? 'EPERM', c.rule, c.why);
  if (vfs.mountAt(path)) return failure(t, 'EBUSY', 'is_local_mountpoint', `${path} is a mount point`);
  if (isdir && victim.children!.size > 0) return failure(t, 'ENOTEMPTY', 'rmdir', `${path} is not empty`);
  parent.children!.delete(name);
  return success(t, c.rule, `removed: ${c.why}`);
}
