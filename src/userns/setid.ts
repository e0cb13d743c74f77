import { type CapSet, FS_CAPS, NO_CAPS, capIntersect, capMinus, capUnion, formatCaps } from './caps.js';
import { nsCapable } from './capable.js';
import type { Cred } from './cred.js';
import { type IdKind, fromKfsidMunged, kidToKfsid, makeKfsid, makeKid, showKid } from './lookup.js';
import { type Outcome, Trace, failure, success } from './trace.js';

/**
 * The set*id system calls of kernel/sys.c, with the series' fsid handling
 * (FSID-v2-07, v3-24): whenever the euid/egid changes, the fs id follows it
 * through the fsid map (`fsuid = make_kfsuid(ns, euid)`) and its id-map twin
 * through the id map (`kfsuid = euid`); an euid the fsid map cannot take is
 * EINVAL. Capabilities follow cap_task_fix_setuid (security/commoncap.c).
 * Ids are given as the caller sees them; -1 means "leave unchanged" where
 * the syscall allows it. Each returns the new credentials on success.
 */

const UNCHANGED = -1;

/** cap_emulate_setxuid: caps follow the real/effective/saved uids leaving or reaching the namespace's root. */
function capEmulateSetxuid(nw: Cred, old: Cred, t: Trace): Cred {
  const root = makeKid(old.userNs, 'uid', 0);
  const isRoot = (k: number) => k === root;
  let { capPermitted, capEffective } = nw;
  if ((isRoot(old.uid) || isRoot(old.euid) || isRoot(old.suid)) && !isRoot(nw.uid) && !isRoot(nw.euid) && !isRoot(nw.suid)) {
    if (!old.keepCaps) {
      capPermitted = NO_CAPS;
      capEffective = NO_CAPS;
      t.info('cap_emulate_setxuid', 'every uid left root and keepcaps is off: permitted and effective capabilities cleared');
    }
  }
  if (isRoot(old.euid) && !isRoot(nw.euid)) {
    capEffective = NO_CAPS;
    t.info('cap_emulate_setxuid', 'euid left root: effective capabilities cleared');
  }
  if (!isRoot(old.euid) && isRoot(nw.euid)) {
    capEffective = capPermitted;
    t.info('cap_emulate_setxuid', `euid became root: effective = permitted (${formatCaps(capPermitted)})`);
  }
  return { ...nw, capPermitted, capEffective };
}

/** The fs id that goes with a new euid/egid: make_kfsuid(ns, id), or kuid_to_kfsuid(current euid) for -1. */
function fsidFor(cred: Cred, kind: IdKind, id: number, newKid: number): number | undefined {
  if (cred.userNs.semantics === 'off') return newKid;
  return id === UNCHANGED ? kidToKfsid(cred.userNs, kind, newKid) : makeKfsid(cred.userNs, kind, id);
}

function kidOf(cred: Cred, kind: IdKind, id: number): number | undefined {
  return makeKid(cred.userNs, kind, id);
}

/** __sys_setuid / __sys_setgid. */
export function setid(cred: Cred, kind: IdKind, id: number): Outcome<Cred> {
  const t = new Trace();
  const fn = kind === 'uid' ? 'setuid' : 'setgid';
  const k = kidOf(cred, kind, id);
  if (k === undefined) return failure(t, 'EINVAL', fn, `${kind} ${id} is not mapped in ${cred.userNs.name}'s ${kind}_map`);
  const fs = fsidFor(cred, kind, id, k);
  if (fs === undefined) return failure(t, 'EINVAL', fn, `${kind} ${id} is not mapped in ${cred.userNs.name}'s fs${kind}_map`);
  const cap = kind === 'uid' ? 'CAP_SETUID' : 'CAP_SETGID';
  const priv = nsCapable(cred, cred.userNs, cap);
  const real = kind === 'uid' ? cred.uid : cred.gid;
  const saved = kind === 'uid' ? cred.suid : cred.sgid;
  let nw: Cred;
  if (kind === 'uid') {
    if (priv.ok) nw = { ...cred, uid: k, suid: k, euid: k, fsuid: fs, kfsuid: k };
    else if (k === real || k === saved) nw = { ...cred, euid: k, fsuid: fs, kfsuid: k };
    else return failure(t, 'EPERM', fn, `uid ${id} (${showKid(k)}) is neither the real nor the saved uid, and ${priv.why}`);
    t.allow(
      fn,
      priv.ok
        ? `${cap}: ${priv.why}; real, effective, saved and fs uid set`
        : 'the new uid is the real or saved uid; effective and fs uid set',
    );
    nw = capEmulateSetxuid(nw, cred, t);
  } else {
    if (priv.ok) nw = { ...cred, gid: k, egid: k, sgid: k, fsgid: fs, kfsgid: k };
    else if (k === real || k === saved) nw = { ...cred, egid: k, fsgid: fs, kfsgid: k };
    else return failure(t, 'EPERM', fn, `gid ${id} (${showKid(k)}) is neither the real nor the saved gid, and ${priv.why}`);
    t.allow(fn, priv.ok ? `${cap}: ${priv.why}` : 'the new gid is the real or saved gid');
  }
  return success(t, fn, `${kind} set to ${id} (${showKid(k)}, fs ${showKid(fs)})`, nw);
}

/** __sys_setresuid / __sys_setresgid (setreuid is the same rules with the saved id derived; not modelled separately). */
export function setresid(cred: Cred, kind: IdKind, r: number, e: number, s: number): Outcome<Cred> {
  const t = new Trace();
  const fn = kind === 'uid' ? 'setresuid' : 'setresgid';
  const cur = kind === 'uid' ? [cred.uid, cred.euid, cred.suid, cred.kfsuid] : [cred.gid, cred.egid, cred.sgid, cred.kfsgid];
  const ks = [r, e, s].map((id) => (id === UNCHANGED ? undefined : kidOf(cred, kind, id)));
  for (const [i, id] of [r, e, s].entries()) {
    if (id !== UNCHANGED && ks[i] === undefined)
      return failure(t, 'EINVAL', fn, `${kind} ${id} is not mapped in ${cred.userNs.name}'s ${kind}_map`);
  }
  const [kr, ke, ksv] = ks;
  // The kernel's no-op test, before any permission check: nothing would change. With fsid maps the fs
  // id that would follow the euid must also be the current one (the series compares keuid with
  // old->fsuid, which holds the fsid-mapped id; a differing fs id is a change).
  const curFs = kind === 'uid' ? cred.fsuid : cred.fsgid;
  if (
    (kr === undefined || kr === cur[0]) &&
    (ke === undefined || (ke === cur[1] && ke === cur[3] && fsidFor(cred, kind, e, ke) === curFs)) &&
    (ksv === undefined || ksv === cur[2])
  ) {
    return success(t, fn, 'no change (the kernel returns 0 before checking permission)', cred);
  }
  const cap = kind === 'uid' ? 'CAP_SETUID' : 'CAP_SETGID';
  const priv = nsCapable(cred, cred.userNs, cap);
  if (!priv.ok) {
    for (const [i, k] of ks.entries()) {
      if (k !== undefined && k !== cur[0] && k !== cur[1] && k !== cur[2]) {
        return failure(
          t,
          'EPERM',
          fn,
          `${['real', 'effective', 'saved'][i]} ${kind} ${[r, e, s][i]} (${showKid(k)}) is none of the current real/effective/saved ids, and ${priv.why}`,
        );
      }
    }
  }
  t.allow(fn, priv.ok ? `${cap}: ${priv.why}` : 'each new id is one of the current real/effective/saved ids');
  const newE = ke ?? cur[1];
  const fs = fsidFor(cred, kind, e, newE);
  if (fs === undefined)
    return failure(
      t,
      'EINVAL',
      fn,
      `effective ${kind} ${showKid(newE)} has no fs${kind}_map entry in ${cred.userNs.name}, so the fs ${kind} cannot follow it`,
    );
  let nw: Cred =
    kind === 'uid'
      ? { ...cred, uid: kr ?? cred.uid, euid: newE, suid: ksv ?? cred.suid, fsuid: fs, kfsuid: newE }
      : { ...cred, gid: kr ?? cred.gid, egid: newE, sgid: ksv ?? cred.sgid, fsgid: fs, kfsgid: newE };
  if (kind === 'uid') nw = capEmulateSetxuid(nw, cred, t);
  return success(t, fn, `${kind}s set; fs ${kind} follows the effective one: ${showKid(fs)}`, nw);
}

/**
 * __sys_setfsuid / __sys_setfsgid: never fails. An id the caller's maps
 * cannot take (id map or fsid map) changes nothing; so does an id the caller
 * may not use. The value is the previous fs id as the caller sees it.
 */
export function setfsid(cred: Cred, kind: IdKind, id: number): Outcome<Cred> & { previous: number } {
  const t = new Trace();
  const fn = kind === 'uid' ? 'setfsuid' : 'setfsgid';
  const ns = cred.userNs;
  const previous = fromKfsidMunged(ns, kind, kind === 'uid' ? cred.fsuid : cred.fsgid);
  const done = (o: Outcome<Cred>) => ({ ...o, previous });
  const k = kidOf(cred, kind, id);
  const fs = k === undefined ? undefined : fsidFor(cred, kind, id, k);
  if (k === undefined || fs === undefined) {
    return done(
      success(t, fn, `${kind} ${id} is not mapped in ${ns.name}${k === undefined ? '' : `'s fs${kind}_map`}: silently unchanged`, cred),
    );
  }
  const ids = kind === 'uid' ? [cred.uid, cred.euid, cred.suid, cred.kfsuid] : [cred.gid, cred.egid, cred.sgid, cred.kfsgid];
  const cap = kind === 'uid' ? 'CAP_SETUID' : 'CAP_SETGID';
  const priv = ids.includes(k) ? { ok: true, why: `${showKid(k)} is one of the current ids` } : nsCapable(cred, ns, cap);
  if (!priv.ok) return done(success(t, fn, `${kind} ${id} is not one of the current ids and ${priv.why}: silently unchanged`, cred));
  if (k === ids[3] && fs === (kind === 'uid' ? cred.fsuid : cred.fsgid)) return done(success(t, fn, 'already the fs id: unchanged', cred));
  let nw: Cred = kind === 'uid' ? { ...cred, fsuid: fs, kfsuid: k } : { ...cred, fsgid: fs, kfsgid: k };
  if (kind === 'uid') {
    // cap_task_fix_setuid(LSM_SETID_FS), with root as make_kfsuid(ns, 0) (FSID-v2-24).
    const root = makeKfsid(ns, 'uid', 0);
    if (cred.fsuid === root && fs !== root) {
      nw = { ...nw, capEffective: capMinus(nw.capEffective, FS_CAPS) };
      t.info(
        'cap_task_fix_setuid',
        'fsuid left root: CAP_CHOWN, CAP_DAC_*, CAP_FOWNER, CAP_FSETID, CAP_MKNOD, CAP_LINUX_IMMUTABLE, CAP_MAC_OVERRIDE dropped from the effective set',
      );
    } else if (cred.fsuid !== root && fs === root) {
      nw = { ...nw, capEffective: capUnion(nw.capEffective, capIntersect(FS_CAPS, nw.capPermitted)) };
      t.info('cap_task_fix_setuid', 'fsuid became root: fs capabilities raised again from the permitted set');
    }
  }
  return done(success(t, fn, `fs ${kind} set to ${id} (${showKid(fs)} on filesystems, ${showKid(k)} on proc/sys)`, nw));
}

/** setgroups(2): needs CAP_SETGID in the caller's namespace, a written gid_map and setgroups "allow" (may_setgroups). */
export function setgroups(cred: Cred, gids: readonly number[]): Outcome<Cred> {
  const t = new Trace();
  const ns = cred.userNs;
  const cap = nsCapable(cred, ns, 'CAP_SETGID');
  if (!cap.ok) return failure(t, 'EPERM', 'may_setgroups', cap.why);
  if (!ns.isWritten('gid')) return failure(t, 'EPERM', 'userns_may_setgroups', `${ns.name}'s gid_map is not written yet`);
  if (ns.setgroups === 'deny') return failure(t, 'EPERM', 'userns_may_setgroups', `${ns.name}/setgroups is "deny"`);
  if (gids.length > 65536) return failure(t, 'EINVAL', 'setgroups', 'more than NGROUPS_MAX (65536) groups');
  const groups: number[] = [],
    fsgroups: number[] = [];
  for (const g of gids) {
    const k = makeKid(ns, 'gid', g);
    if (k === undefined) return failure(t, 'EINVAL', 'groups_from_user', `gid ${g} is not mapped in ${ns.name}'s gid_map`);
    const fk = ns.semantics === 'off' ? k : makeKfsid(ns, 'gid', g);
    if (fk === undefined) return failure(t, 'EINVAL', 'groups_from_user', `gid ${g} is not mapped in ${ns.name}'s fsgid_map`);
    groups.push(k);
    fsgroups.push(fk);
  }
  const order = groups.map((_, i) => i).sort((a, b) => groups[a] - groups[b]);
  return success(t, 'setgroups', `supplementary groups set to ${gids.join(',') || '(none)'}`, {
    ...cred,
    groups: order.map((i) => groups[i]),
    fsgroups: order.map((i) => fsgroups[i]),
  });
}

/**
 * capset(2) for the effective set only, as the model needs it: the new
 * effective set must be a subset of the permitted set (cap_capset: EPERM).
 */
export function capsetEffective(cred: Cred, effective: CapSet): Outcome<Cred> {
  const t = new Trace();
  const extra = [...effective].filter((c) => !cred.capPermitted.has(c));
  if (extra.length > 0) return failure(t, 'EPERM', 'cap_capset', `${extra.join(',')} not in the permitted set`);
  return success(t, 'capset', `effective capabilities: ${formatCaps(effective)}`, { ...cred, capEffective: effective });
}

/** prctl(PR_SET_KEEPCAPS). */
export function setKeepCaps(cred: Cred, keep: boolean): Cred {
  return { ...cred, keepCaps: keep };
}
