import type { Cap } from '../userns/caps.js';
import { nsCapable } from '../userns/capable.js';
import type { Cred } from '../userns/cred.js';
import { showKid } from '../userns/lookup.js';
import type { Errno, Trace } from '../userns/trace.js';
import { fsViewOf } from './fs-view.js';
import { type Inode, MAY_EXEC, MAY_READ, MAY_WRITE, S_IRWXG, S_IXUGO } from './inode.js';
import { type Mount, inodeVfsid, makeVfsid } from './mount.js';

/**
 * The permission rules of fs/namei.c, fs/inode.c, fs/posix_acl.c and
 * kernel/capability.c, on vfsuids (owners as seen through the mount), with
 * the series' fsid switch (fs-view.ts). Each function appends its step to
 * the trace and returns what it decided.
 */
export interface Check {
  readonly ok: boolean;
  readonly errno?: Errno;
  readonly rule: string;
  readonly why: string;
}

const allow = (rule: string, why: string): Check => ({ ok: true, rule, why });
const deny = (errno: Errno, rule: string, why: string): Check => ({ ok: false, errno, rule, why });

export function maskName(mask: number): string {
  return (
    [mask & MAY_READ ? 'read' : '', mask & MAY_WRITE ? 'write' : '', mask & MAY_EXEC ? 'exec' : ''].filter(Boolean).join('+') || 'nothing'
  );
}

/**
 * privileged_wrt_inode_uidgid (kernel/capability.c): the inode's vfsuid and
 * vfsgid both map into the caller's namespace, through the fsid maps on an
 * ordinary superblock (FSID-v2-18). Capabilities over files whose owner the
 * caller cannot name do not count.
 */
export function privilegedWrtInodeUidgid(cred: Cred, mount: Mount, inode: Inode): Check {
  const view = fsViewOf(inode.sb);
  const ns = cred.userNs;
  const u = inodeVfsid(mount.idmap, inode, 'uid'),
    g = inodeVfsid(mount.idmap, inode, 'gid');
  if (!view.hasMapping(ns, 'uid', u))
    return deny('EPERM', 'privileged_wrt_inode_uidgid', `owner ${showKid(u)} is not mapped in ${ns.name}'s ${view.mapName(ns, 'uid')}`);
  if (!view.hasMapping(ns, 'gid', g))
    return deny('EPERM', 'privileged_wrt_inode_uidgid', `group ${showKid(g)} is not mapped in ${ns.name}'s ${view.mapName(ns, 'gid')}`);
  return allow(
    'privileged_wrt_inode_uidgid',
    `owner ${showKid(u)} and group ${showKid(g)} are mapped in ${ns.name}'s ${view.mapName(ns, 'uid')}/${view.mapName(ns, 'gid')}`,
  );
}

/** capable_wrt_inode_uidgid: ns_capable(current_user_ns(), cap) and privileged_wrt_inode_uidgid. */
export function capableWrtInodeUidgid(cred: Cred, mount: Mount, inode: Inode, cap: Cap): Check {
  const c = nsCapable(cred, cred.userNs, cap);
  if (!c.ok) return deny('EPERM', 'capable_wrt_inode_uidgid', `${cap} not honoured: ${c.why}`);
  const p = privilegedWrtInodeUidgid(cred, mount, inode);
  if (!p.ok) return deny('EPERM', 'capable_wrt_inode_uidgid', `${cap} not honoured: ${p.why}`);
  return allow('capable_wrt_inode_uidgid', `${cap} honoured: ${c.why}, and ${p.why}`);
}

/** inode_owner_or_capable (fs/inode.c): the caller's fsuid owns the inode, or CAP_FOWNER with the owner mapped. */
export function inodeOwnerOrCapable(cred: Cred, mount: Mount, inode: Inode): Check {
  const view = fsViewOf(inode.sb);
  const u = inodeVfsid(mount.idmap, inode, 'uid');
  const fsuid = view.currentFsid(cred, 'uid');
  if (u !== undefined && u === fsuid) return allow('inode_owner_or_capable', `the caller's fsuid ${showKid(fsuid)} owns it`);
  const ns = cred.userNs;
  if (!view.hasMapping(ns, 'uid', u))
    return deny(
      'EPERM',
      'inode_owner_or_capable',
      `not the owner (fsuid ${showKid(fsuid)}, owner ${showKid(u)}), and CAP_FOWNER cannot apply: the owner is not mapped in ${ns.name}'s ${view.mapName(ns, 'uid')}`,
    );
  const c = nsCapable(cred, ns, 'CAP_FOWNER');
  if (c.ok) return allow('inode_owner_or_capable', `CAP_FOWNER honoured: ${c.why}, owner ${showKid(u)} mapped`);
  return deny(
    'EPERM',
    'inode_owner_or_capable',
    `not the owner (fsuid ${showKid(fsuid)}, owner ${showKid(u)}) and no CAP_FOWNER: ${c.why}`,
  );
}

/** in_group_or_capable (fs/inode.c): in the group, or CAP_FSETID over the inode. */
export function inGroupOrCapable(cred: Cred, mount: Mount, inode: Inode, vfsgid: number | undefined): Check {
  if (fsViewOf(inode.sb).inGroup(cred, vfsgid)) return allow('in_group_or_capable', `the caller is in group ${showKid(vfsgid)}`);
  const c = capableWrtInodeUidgid(cred, mount, inode, 'CAP_FSETID');
  return c.ok ? allow('in_group_or_capable', c.why) : deny('EPERM', 'in_group_or_capable', `not in group ${showKid(vfsgid)}; ${c.why}`);
}

/** posix_acl_permission (fs/posix_acl.c), for an inode with an extended ACL; named ids go through the mount too. */
function posixAclPermission(cred: Cred, mount: Mount, inode: Inode, want: number): Check {
  const acl = inode.acl!;
  const view = fsViewOf(inode.sb);
  const fsuid = view.currentFsid(cred, 'uid');
  const mask = (inode.mode >> 3) & 7;
  const masked = (perm: number, what: string): Check =>
    (perm & mask & want) === want
      ? allow('posix_acl_permission', `${what} grants ${maskName(want)} (within the ACL mask)`)
      : deny(
          'EACCES',
          'posix_acl_permission',
          `${what} ${(perm & want) === want ? 'is limited by the ACL mask' : 'does not grant'} ${maskName(want)}`,
        );
  for (const e of acl.users) {
    const v = makeVfsid(mount.idmap, inode.sb.userNs, 'uid', e.id);
    if (v !== undefined && v === fsuid) return masked(e.perm, `ACL entry user:${showKid(v)}`);
  }
  let found = false;
  const groups = [
    { id: inode.gid, perm: acl.groupObj, what: 'the owning group' },
    ...acl.groups.map((g) => ({ id: g.id, perm: g.perm, what: 'ACL entry group' })),
  ];
  for (const g of groups) {
    const v = makeVfsid(mount.idmap, inode.sb.userNs, 'gid', g.id);
    if (view.inGroup(cred, v)) {
      found = true;
      if ((g.perm & want) === want) return masked(g.perm, `${g.what} ${showKid(v)}`);
    }
  }
  if (found) return deny('EACCES', 'posix_acl_permission', `the caller's matching ACL groups do not grant ${maskName(want)}`);
  const other = inode.mode & 7;
  return (other & want) === want
    ? allow('posix_acl_permission', `ACL other grants ${maskName(want)}`)
    : deny('EACCES', 'posix_acl_permission', `ACL other does not grant ${maskName(want)}`);
}

/** acl_permission_check (fs/namei.c): owner bits, else the ACL, else group bits (if in the group), else other bits. */
export function aclPermissionCheck(cred: Cred, mount: Mount, inode: Inode, mask: number): Check {
  const view = fsViewOf(inode.sb);
  const mode = inode.mode;
  const want = mask & 7;
  const u = inodeVfsid(mount.idmap, inode, 'uid');
  const fsuid = view.currentFsid(cred, 'uid');
  if (u !== undefined && u === fsuid) {
    const ok = (want & ~(mode >> 6)) === 0;
    return ok
      ? allow('acl_permission_check', `owner class: fsuid ${showKid(fsuid)} owns it and the owner bits grant ${maskName(want)}`)
      : deny(
          'EACCES',
          'acl_permission_check',
          `owner class: fsuid ${showKid(fsuid)} owns it but the owner bits lack ${maskName(want & ~(mode >> 6))}`,
        );
  }
  if (inode.hasAcl && mode & S_IRWXG) return posixAclPermission(cred, mount, inode, want);
  let bits = mode,
    cls = 'other';
  if (want & (mode ^ (mode >> 3))) {
    const g = inodeVfsid(mount.idmap, inode, 'gid');
    if (view.inGroup(cred, g)) {
      bits = mode >> 3;
      cls = 'group';
    }
  }
  const missing = want & ~bits & 7;
  const who = `fsuid ${showKid(fsuid)} is not the owner ${showKid(u)}`;
  return missing === 0
    ? allow('acl_permission_check', `${cls} class (${who}): the ${cls} bits grant ${maskName(want)}`)
    : deny('EACCES', 'acl_permission_check', `${cls} class (${who}): the ${cls} bits lack ${maskName(missing)}`);
}

/** generic_permission (fs/namei.c): acl_permission_check, then the DAC overrides, all through capable_wrt_inode_uidgid. */
export function genericPermission(cred: Cred, mount: Mount, inode: Inode, mask: number, t: Trace): Check {
  const base = aclPermissionCheck(cred, mount, inode, mask);
  if (base.ok) {
    t.allow(base.rule, base.why);
    return base;
  }
  t.info(base.rule, base.why);
  const tryCap = (cap: Cap): Check | undefined => {
    const c = capableWrtInodeUidgid(cred, mount, inode, cap);
    if (c.ok) {
      t.allow(c.rule, c.why);
      return allow('generic_permission', c.why);
    }
    t.info(c.rule, c.why);
    return undefined;
  };
  if (inode.isDir) {
    if (!(mask & MAY_WRITE)) {
      const r = tryCap('CAP_DAC_READ_SEARCH');
      if (r) return r;
    }
    const r = tryCap('CAP_DAC_OVERRIDE');
    if (r) return r;
    return deny('EACCES', 'generic_permission', `${base.why}; no capability overrides it`);
  }
  const m = mask & (MAY_READ | MAY_WRITE | MAY_EXEC);
  if (m === MAY_READ) {
    const r = tryCap('CAP_DAC_READ_SEARCH');
    if (r) return r;
  }
  if (!(m & MAY_EXEC) || inode.mode & S_IXUGO) {
    const r = tryCap('CAP_DAC_OVERRIDE');
    if (r) return r;
  } else t.info('generic_permission', 'CAP_DAC_OVERRIDE cannot grant exec: no execute bit is set');
  return deny('EACCES', 'generic_permission', `${base.why}; no capability overrides it`);
}

/**
 * inode_permission (fs/namei.c): a write to an inode whose owner the mount
 * cannot map (HAS_UNMAPPED_ID) is refused outright, since writeback would
 * store a wrong owner; then generic_permission.
 */
export function inodePermission(cred: Cred, mount: Mount, inode: Inode, mask: number, t: Trace): Check {
  if (mask & MAY_WRITE) {
    const u = inodeVfsid(mount.idmap, inode, 'uid'),
      g = inodeVfsid(mount.idmap, inode, 'gid');
    if (u === undefined || g === undefined) {
      return deny(
        'EACCES',
        'inode_permission',
        `HAS_UNMAPPED_ID: the ${describeOwner(inode)} has no mapping in the ${mount.idmap ? `idmapped mount (maps of ${mount.idmap.from})` : 'mount'}, so nobody may write it`,
      );
    }
  }
  return genericPermission(cred, mount, inode, mask, t);
}

function describeOwner(inode: Inode): string {
  return `on-disk owner ${inode.diskUid ?? '?'}:${inode.diskGid ?? '?'}`;
}
