import type { Cred } from '../userns/cred.js';
import { showKid } from '../userns/lookup.js';
import type { Task } from '../userns/task.js';
import { type Outcome, Trace, failure, success } from '../userns/trace.js';
import { fsViewOf } from './fs-view.js';
import { type Inode, type InodeType, MAY_EXEC, MAY_READ, MAY_WRITE, S_IALLUGO, S_ISGID, S_ISVTX, octal } from './inode.js';
import { type Mount, describeIdmap, fromVfsid, inodeVfsid } from './mount.js';
import { type Check, inGroupOrCapable, inodePermission } from './permission.js';
import type { Vfs } from './vfs.js';

export interface StatResult {
  readonly type: InodeType;
  /** st_uid / st_gid as the caller sees them (65534 when unmapped). */
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  /** The owner through the mount (vfsuid), and as stored on disk. */
  readonly vfsuid: number | undefined;
  readonly vfsgid: number | undefined;
  readonly diskUid: number | undefined;
  readonly diskGid: number | undefined;
}

export function statOf(task: Task, mount: Mount, inode: Inode): StatResult {
  const view = fsViewOf(inode.sb);
  const ns = task.cred.userNs;
  const vfsuid = inodeVfsid(mount.idmap, inode, 'uid'),
    vfsgid = inodeVfsid(mount.idmap, inode, 'gid');
  return {
    type: inode.type,
    uid: view.fromMunged(ns, 'uid', vfsuid),
    gid: view.fromMunged(ns, 'gid', vfsgid),
    mode: inode.mode,
    vfsuid,
    vfsgid,
    diskUid: inode.diskUid,
    diskGid: inode.diskGid,
  };
}

/**
 * stat(2) (fs/stat.c): only the path walk needs permission. The owner is
 * reported with from_kfsuid_munged on ordinary superblocks (FSID-v2-19),
 * from_kuid_munged on userns-visible ones: an unmapped owner is 65534.
 */
export function stat(vfs: Vfs, task: Task, path: string): Outcome<StatResult> {
  const t = new Trace();
  const r = vfs.walk(task, path, t);
  if (!r.ok) return failure(t, r.errno, r.rule, r.why);
  const at = r.at;
  if (!at.inode) return failure(t, 'ENOENT', 'walk_component', `${path} does not exist`);
  const s = statOf(task, at.mount, at.inode);
  const view = fsViewOf(at.inode.sb);
  const ns = task.cred.userNs;
  const how = `on disk ${s.diskUid}:${s.diskGid} → vfs ${showKid(s.vfsuid)}:${showKid(s.vfsgid)} (${describeIdmap(at.mount)}) → ${s.uid}:${s.gid} through ${ns.name}'s ${view.mapName(ns, 'uid')}`;
  return success(
    t,
    view.kind === 'fs' ? 'from_kfsuid_munged' : 'from_kuid_munged',
    s.uid === 65534 || s.gid === 65534 ? `${how} (65534: unmapped)` : how,
    s,
  );
}

export type OpenAccess = 'read' | 'write' | 'rdwr' | 'exec';

const ACCESS_MASK: Record<OpenAccess, number> = { read: MAY_READ, write: MAY_WRITE, rdwr: MAY_READ | MAY_WRITE, exec: MAY_EXEC };

/**
 * open(2) of an existing object (may_open, fs/namei.c), never following a
 * final symlink (O_NOFOLLOW: ELOOP). Directories cannot be opened for write
 * (EISDIR) or exec (EACCES); exec needs a regular file. `exec` is the
 * permission check execve makes (MAY_EXEC on a regular file).
 */
export function open(vfs: Vfs, task: Task, path: string, access: OpenAccess): Outcome {
  const t = new Trace();
  const r = vfs.walk(task, path, t);
  if (!r.ok) return failure(t, r.errno, r.rule, r.why);
  const at = r.at;
  const inode = at.inode;
  if (!inode) return failure(t, 'ENOENT', 'walk_component', `${path} does not exist`);
  const mask = ACCESS_MASK[access];
  if (inode.type === 'symlink') return failure(t, 'ELOOP', 'may_open', `${path} is a symlink (the model opens with O_NOFOLLOW)`);
  if (inode.isDir && mask & MAY_WRITE) return failure(t, 'EISDIR', 'may_open', `${path} is a directory`);
  if (inode.isDir && mask & MAY_EXEC) return failure(t, 'EACCES', 'may_open', `${path} is a directory, not an executable`);
  const c = inodePermission(task.cred, at.mount, inode, mask, t);
  if (!c.ok) return failure(t, c.errno ?? 'EACCES', c.rule, c.why);
  return success(t, c.rule, c.why);
}

export interface CreateResult {
  readonly diskUid: number | undefined;
  readonly diskGid: number | undefined;
  readonly mode: number;
}

/**
 * open(O_CREAT|O_EXCL) and mkdir(2): lookup_open/filename_create, then
 * may_o_create/may_create (EEXIST; EOVERFLOW when the caller's fsuid/fsgid
 * cannot be stored through the mount; MAY_WRITE|MAY_EXEC on the directory),
 * vfs_prepare_mode (mode_strip_sgid, umask) and inode_init_owner (owner
 * from mapped_fsuid; group from a setgid directory, which new directories
 * inherit).
 */
export function create(vfs: Vfs, task: Task, path: string, type: 'file' | 'dir', mode: number): Outcome<CreateResult> {
  const t = new Trace();
  const fn = type === 'dir' ? 'may_create' : 'may_o_create';
  const r = vfs.walk(task, path, t);
  if (!r.ok) return failure(t, r.errno, r.rule, r.why);
  const at = r.at;
  if (at.name === '') return failure(t, 'EEXIST', fn, '/ exists');
  if (at.inode) return failure(t, 'EEXIST', fn, `${path} already exists`);
  const { parentMount: mount, parent: dir } = at;
  const cred = task.cred;
  const view = fsViewOf(dir.sb);
  const c = mayCreateIn(cred, mount, dir, t);
  if (!c.ok)
    return failure(t, c.errno ?? 'EACCES', c.rule, c.rule === 'fsuidgid_has_mapping' ? c.why : `cannot write the directory: ${c.why}`);
  const uid = fromVfsid(mount.idmap, dir.sb.userNs, 'uid', view.currentFsid(cred, 'uid'))!;
  const gid = fromVfsid(mount.idmap, dir.sb.userNs, 'gid', view.currentFsid(cred, 'gid'))!;

  // vfs_prepare_mode: mode_strip_sgid (files only), then umask (default ACLs are not modelled), then the type's mask.
  let m = mode;
  if (type === 'file' && (m & (S_ISGID | 0o010)) === (S_ISGID | 0o010) && dir.mode & S_ISGID) {
    const g = inGroupOrCapable(cred, mount, dir, inodeVfsid(mount.idmap, dir, 'gid'));
    if (!g.ok) {
      m &= ~S_ISGID;
      t.info('mode_strip_sgid', `setgid bit dropped: ${g.why}`);
    }
  }
  m &= ~task.umask;
  m &= type === 'dir' ? 0o777 | S_ISVTX : S_IALLUGO;
  // inode_init_owner
  let igid = gid;
  if (dir.mode & S_ISGID) {
    igid = dir.gid;
    if (type === 'dir') m |= S_ISGID;
    t.info(
      'inode_init_owner',
      `the directory is setgid: group ${showKid(dir.gid)} inherited${type === 'dir' ? ', and the new directory is setgid too' : ''}`,
    );
  }
  const inode = dir.sb.newInode(type, uid, igid, m, dir);
  dir.children!.set(at.name, inode);
  const res = { diskUid: inode.diskUid, diskGid: inode.diskGid, mode: m };
  return success(
    t,
    'inode_init_owner',
    `created ${octal(m)}, on disk ${res.diskUid}:${res.diskGid} (fsuid ${showKid(view.currentFsid(cred, 'uid'))} through ${describeIdmap(mount)})`,
    res,
  );
}

/**
 * may_create / may_o_create without the lookup: the caller's fs ids must
 * map back through the mount to ids the filesystem can store
 * (fsuidgid_has_mapping, EOVERFLOW), then write and search on the
 * directory (inode_permission, with its HAS_UNMAPPED_ID refusal).
 */
export function mayCreateIn(cred: Cred, mount: Mount, dir: Inode, t: Trace = new Trace()): Check {
  const view = fsViewOf(dir.sb);
  const fsUserns = dir.sb.userNs;
  const uid = fromVfsid(mount.idmap, fsUserns, 'uid', view.currentFsid(cred, 'uid'));
  const gid = fromVfsid(mount.idmap, fsUserns, 'gid', view.currentFsid(cred, 'gid'));
  if (uid === undefined || gid === undefined || !view.hasMapping(fsUserns, 'uid', uid) || !view.hasMapping(fsUserns, 'gid', gid)) {
    const which =
      uid === undefined || !view.hasMapping(fsUserns, 'uid', uid)
        ? `fsuid ${showKid(view.currentFsid(cred, 'uid'))}`
        : `fsgid ${showKid(view.currentFsid(cred, 'gid'))}`;
    return {
      ok: false,
      errno: 'EOVERFLOW',
      rule: 'fsuidgid_has_mapping',
      why: `the caller's ${which} has no on-disk id through ${describeIdmap(mount)}: a new inode's owner could not be stored`,
    };
  }
  t.allow(
    'fsuidgid_has_mapping',
    `fsuid/fsgid ${showKid(view.currentFsid(cred, 'uid'))}/${showKid(view.currentFsid(cred, 'gid'))} map to on-disk ${dir.sb.diskOfKid('uid', uid)}:${dir.sb.diskOfKid('gid', gid)}`,
  );
  return inodePermission(cred, mount, dir, MAY_WRITE | MAY_EXEC, t);
}
