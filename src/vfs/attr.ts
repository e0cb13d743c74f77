import { nsCapable } from '../userns/capable.js';
import type { Cred } from '../userns/cred.js';
import { showKid } from '../userns/lookup.js';
import type { Task } from '../userns/task.js';
import { type Outcome, Trace, failure, success } from '../userns/trace.js';
import { fsViewOf } from './fs-view.js';
import { type Inode, MAY_WRITE, S_IALLUGO, S_ISGID, S_ISUID, octal } from './inode.js';
import { type Mount, describeIdmap, fromVfsid, inodeVfsid } from './mount.js';
import { type Check, capableWrtInodeUidgid, inGroupOrCapable, inodeOwnerOrCapable, inodePermission } from './permission.js';
import type { Vfs } from './vfs.js';

/** struct iattr, the part the model uses. vfsuid/vfsgid are set only when ATTR_UID/ATTR_GID are. */
interface Iattr {
  vfsuid?: number;
  vfsgid?: number;
  mode?: number;
  killSuid?: boolean;
  killSgid?: boolean;
  /** ATTR_TOUCH: utimes(NULL) */
  touch?: boolean;
  /** ATTR_TIMES_SET|ATTR_[AM]TIME_SET: explicit times */
  timesSet?: boolean;
}

/** chown_ok (fs/attr.c): owner making a no-op change; CAP_CHOWN over the inode; or an unmapped owner and CAP_CHOWN over s_user_ns. */
export function chownOk(cred: Cred, mount: Mount, inode: Inode, iaVfsuid: number): Check {
  const view = fsViewOf(inode.sb);
  const u = inodeVfsid(mount.idmap, inode, 'uid');
  if (u !== undefined && u === view.currentFsid(cred, 'uid') && iaVfsuid === u)
    return { ok: true, rule: 'chown_ok', why: 'the owner "changes" the owner to itself' };
  const c = capableWrtInodeUidgid(cred, mount, inode, 'CAP_CHOWN');
  if (c.ok) return { ok: true, rule: 'chown_ok', why: c.why };
  if (u === undefined) {
    const s = nsCapable(cred, inode.sb.userNs, 'CAP_CHOWN');
    if (s.ok)
      return {
        ok: true,
        rule: 'chown_ok',
        why: `the owner is unmapped in the mount and CAP_CHOWN over s_user_ns ${inode.sb.userNs.name}: ${s.why}`,
      };
  }
  return { ok: false, errno: 'EPERM', rule: 'chown_ok', why: `changing the owner needs CAP_CHOWN over the inode: ${c.why}` };
}

/** chgrp_ok (fs/attr.c): the owner giving the file to its own group (or a no-op), else as chown_ok. */
export function chgrpOk(cred: Cred, mount: Mount, inode: Inode, iaVfsgid: number): Check {
  const view = fsViewOf(inode.sb);
  const u = inodeVfsid(mount.idmap, inode, 'uid'),
    g = inodeVfsid(mount.idmap, inode, 'gid');
  if (u !== undefined && u === view.currentFsid(cred, 'uid')) {
    if (iaVfsgid === g) return { ok: true, rule: 'chgrp_ok', why: 'the owner keeps the group' };
    if (view.inGroup(cred, iaVfsgid))
      return { ok: true, rule: 'chgrp_ok', why: `the owner is a member of the new group ${showKid(iaVfsgid)}` };
  }
  const c = capableWrtInodeUidgid(cred, mount, inode, 'CAP_CHOWN');
  if (c.ok) return { ok: true, rule: 'chgrp_ok', why: c.why };
  if (g === undefined) {
    const s = nsCapable(cred, inode.sb.userNs, 'CAP_CHOWN');
    if (s.ok) return { ok: true, rule: 'chgrp_ok', why: `the group is unmapped in the mount and CAP_CHOWN over s_user_ns: ${s.why}` };
  }
  return {
    ok: false,
    errno: 'EPERM',
    rule: 'chgrp_ok',
    why: `changing the group needs ownership and membership, or CAP_CHOWN over the inode: ${c.why}`,
  };
}

/** setattr_should_drop_sgid (fs/attr.c). */
function shouldDropSgid(cred: Cred, mount: Mount, inode: Inode): boolean {
  if (!(inode.mode & S_ISGID)) return false;
  if (inode.mode & 0o010) return true;
  return !inGroupOrCapable(cred, mount, inode, inodeVfsid(mount.idmap, inode, 'gid')).ok;
}

export interface AttrResult {
  readonly diskUid: number | undefined;
  readonly diskGid: number | undefined;
  readonly mode: number;
}

/**
 * notify_change → may_setattr → setattr_prepare (fs/attr.c), in the
 * kernel's order: write access for a plain touch, setuid/setgid killing,
 * the EOVERFLOW checks (new ids must be storable; an inode whose owner the
 * mount cannot map may only be changed by giving it a valid owner), then
 * chown_ok, chgrp_ok, the chmod owner check (with the setgid strip) and the
 * explicit-times owner check; then the change is applied.
 */
function notifyChange(cred: Cred, mount: Mount, inode: Inode, ia: Iattr, t: Trace, what: string): Outcome<AttrResult> {
  const view = fsViewOf(inode.sb);
  const fsUserns = inode.sb.userNs;
  if (ia.touch) {
    const o = inodeOwnerOrCapable(cred, mount, inode);
    if (!o.ok) {
      t.info(o.rule, o.why);
      const w = inodePermission(cred, mount, inode, MAY_WRITE, t);
      if (!w.ok) return failure(t, w.errno ?? 'EACCES', 'may_setattr', `setting times to now needs ownership or write access: ${w.why}`);
    }
  }
  if (ia.mode !== undefined && inode.type === 'symlink')
    return failure(t, 'EOPNOTSUPP', 'notify_change', 'the mode of a symlink cannot be changed');
  if (ia.killSuid && inode.mode & S_ISUID) {
    ia.mode = inode.mode & ~S_ISUID;
    t.info('notify_change', 'ATTR_KILL_SUID: the setuid bit is cleared');
  }
  if (ia.killSgid && inode.mode & S_ISGID) {
    ia.mode = (ia.mode ?? inode.mode) & ~S_ISGID;
    t.info('notify_change', 'ATTR_KILL_SGID: the setgid bit is cleared');
  }
  for (const kind of ['uid', 'gid'] as const) {
    const v = kind === 'uid' ? ia.vfsuid : ia.vfsgid;
    if (v !== undefined) {
      const k = fromVfsid(mount.idmap, fsUserns, kind, v);
      if (k === undefined || !view.hasMapping(fsUserns, kind, k)) {
        return failure(t, 'EOVERFLOW', 'notify_change', `the new ${kind} ${showKid(v)} has no on-disk id through ${describeIdmap(mount)}`);
      }
    } else if (inodeVfsid(mount.idmap, inode, kind) === undefined) {
      return failure(
        t,
        'EOVERFLOW',
        'notify_change',
        `the inode's on-disk ${kind} ${kind === 'uid' ? inode.diskUid : inode.diskGid} has no mapping in ${describeIdmap(mount)}; only a change that sets a valid ${kind} is allowed`,
      );
    }
  }
  if (ia.vfsuid !== undefined) {
    const c = chownOk(cred, mount, inode, ia.vfsuid);
    if (!c.ok) return failure(t, 'EPERM', c.rule, c.why);
    t.allow(c.rule, c.why);
  }
  if (ia.vfsgid !== undefined) {
    const c = chgrpOk(cred, mount, inode, ia.vfsgid);
    if (!c.ok) return failure(t, 'EPERM', c.rule, c.why);
    t.allow(c.rule, c.why);
  }
  if (ia.mode !== undefined) {
    const o = inodeOwnerOrCapable(cred, mount, inode);
    if (!o.ok) return failure(t, 'EPERM', o.rule, `${what}: ${o.why}`);
    t.allow(o.rule, o.why);
    const g = ia.vfsgid ?? inodeVfsid(mount.idmap, inode, 'gid');
    const inGroup = inGroupOrCapable(cred, mount, inode, g);
    if (!inGroup.ok && ia.mode & S_ISGID) {
      ia.mode &= ~S_ISGID;
      t.info('setattr_prepare', `setgid bit dropped: ${inGroup.why}`);
    }
  }
  if (ia.timesSet) {
    const o = inodeOwnerOrCapable(cred, mount, inode);
    if (!o.ok) return failure(t, 'EPERM', o.rule, `setting explicit times: ${o.why}`);
    t.allow(o.rule, o.why);
  }
  if (ia.vfsuid !== undefined) inode.uid = fromVfsid(mount.idmap, fsUserns, 'uid', ia.vfsuid)!;
  if (ia.vfsgid !== undefined) inode.gid = fromVfsid(mount.idmap, fsUserns, 'gid', ia.vfsgid)!;
  if (ia.mode !== undefined) inode.mode = ia.mode;
  const res = { diskUid: inode.diskUid, diskGid: inode.diskGid, mode: inode.mode };
  return success(t, 'notify_change', `${what}: now ${octal(inode.mode)}, on disk ${res.diskUid}:${res.diskGid}`, res);
}

function resolve(vfs: Vfs, task: Task, path: string, t: Trace): { mount: Mount; inode: Inode } | Outcome<AttrResult> {
  const r = vfs.walk(task, path, t);
  if (!r.ok) return failure(t, r.errno, r.rule, r.why);
  if (!r.at.inode) return failure(t, 'ENOENT', 'walk_component', `${path} does not exist`);
  return { mount: r.at.mount, inode: r.at.inode };
}

/**
 * lchown(2) → chown_common (fs/open.c): -1 leaves an id alone; requested ids
 * go through the caller's namespace (make_kfsuid on ordinary superblocks in
 * the series, make_kuid today), EINVAL when unmapped; a non-directory loses
 * setuid, and setgid where setattr_should_drop_sgid says so.
 */
export function chown(vfs: Vfs, task: Task, path: string, uid: number, gid: number): Outcome<AttrResult> {
  const t = new Trace();
  const at = resolve(vfs, task, path, t);
  if ('ok' in at) return at;
  return chownInode(task.cred, at.mount, at.inode, uid, gid, t);
}

/** chown_common on an inode already looked up (explain judges inodes it never walks to). Changes `inode` on success. */
export function chownInode(cred: Cred, mount: Mount, inode: Inode, uid: number, gid: number, t: Trace = new Trace()): Outcome<AttrResult> {
  const view = fsViewOf(inode.sb);
  const ns = cred.userNs;
  const ia: Iattr = {};
  if (uid !== -1) {
    const k = view.make(ns, 'uid', uid);
    if (k === undefined) return failure(t, 'EINVAL', 'chown_common', `uid ${uid} is not mapped in ${ns.name}'s ${view.mapName(ns, 'uid')}`);
    ia.vfsuid = k;
  }
  if (gid !== -1) {
    const k = view.make(ns, 'gid', gid);
    if (k === undefined) return failure(t, 'EINVAL', 'chown_common', `gid ${gid} is not mapped in ${ns.name}'s ${view.mapName(ns, 'gid')}`);
    ia.vfsgid = k;
  }
  if (!inode.isDir) {
    ia.killSuid = true;
    ia.killSgid = shouldDropSgid(cred, mount, inode);
  }
  return notifyChange(cred, mount, inode, ia, t, `chown ${uid}:${gid}`);
}

/** chmod(2) → chmod_common: only the owner or CAP_FOWNER (over a mapped owner); setgid needs the group or CAP_FSETID. */
export function chmod(vfs: Vfs, task: Task, path: string, mode: number): Outcome<AttrResult> {
  const t = new Trace();
  const at = resolve(vfs, task, path, t);
  if ('ok' in at) return at;
  return notifyChange(task.cred, at.mount, at.inode, { mode: mode & S_IALLUGO }, t, `chmod ${octal(mode & S_IALLUGO)}`);
}

/** utimensat(2): `now` (times NULL: owner, or write access) or `set` (explicit times: owner or CAP_FOWNER). */
export function utimes(vfs: Vfs, task: Task, path: string, how: 'now' | 'set'): Outcome<AttrResult> {
  const t = new Trace();
  const at = resolve(vfs, task, path, t);
  if ('ok' in at) return at;
  return notifyChange(task.cred, at.mount, at.inode, how === 'now' ? { touch: true } : { timesSet: true }, t, `utimes ${how}`);
}
