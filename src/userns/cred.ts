import { ALL_CAPS, type CapSet, formatCaps } from './caps.js';
import { type IdKind, fromKfsidMunged, fromKidMunged } from './lookup.js';
import type { UserNamespace } from './namespace.js';

/**
 * struct cred, with the series' extra fields (FSID-v2-06). All ids are
 * kernel ids. The series' naming is inverted, and the model keeps it so it
 * can be checked against the patches:
 * - `fsuid`/`fsgid`: the fsid-map kernel id, what ordinary filesystems
 *   compare with inode owners and stamp on new inodes (300000 for root of a
 *   container with fsuid_map `0 300000 100000`);
 * - `kfsuid`/`kfsgid`: the id-map kernel id of the same fs id, used by
 *   userns-visible superblocks (proc, sysfs) and ptrace FSCREDS.
 * Without fsid maps (semantics `off`) the two are always equal.
 *
 * Supplementary groups are kept in both translations (`groups` through the
 * gid map, `fsgroups` through the fsgid map), computed once by setgroups(2)
 * like the kernel computes group_info once. The series does not say how
 * in_group_p meets fsid maps; this is the model's choice, and it collapses
 * to the kernel's in_group_p whenever fsid maps equal id maps.
 */
export interface Cred {
  readonly userNs: UserNamespace;
  readonly uid: number;
  readonly euid: number;
  readonly suid: number;
  readonly fsuid: number;
  readonly kfsuid: number;
  readonly gid: number;
  readonly egid: number;
  readonly sgid: number;
  readonly fsgid: number;
  readonly kfsgid: number;
  readonly groups: readonly number[];
  readonly fsgroups: readonly number[];
  readonly capPermitted: CapSet;
  readonly capEffective: CapSet;
  /** SECURE_KEEP_CAPS (prctl PR_SET_KEEPCAPS): keep permitted caps when all uids leave root. */
  readonly keepCaps: boolean;
}

/** init_cred: everything 0 in the initial namespace, full capabilities. */
export function initCred(init: UserNamespace): Cred {
  return {
    userNs: init,
    uid: 0,
    euid: 0,
    suid: 0,
    fsuid: 0,
    kfsuid: 0,
    gid: 0,
    egid: 0,
    sgid: 0,
    fsgid: 0,
    kfsgid: 0,
    groups: [],
    fsgroups: [],
    capPermitted: ALL_CAPS,
    capEffective: ALL_CAPS,
    keepCaps: false,
  };
}

/**
 * in_group_p (kernel/groups.c) as a filesystem asks it: is kgid the caller's
 * fsgid or one of its supplementary groups? `view` says which translation
 * the superblock uses: `fs` (ordinary, fsid maps) or `id` (userns-visible).
 */
export function inGroupP(cred: Cred, kgid: number | undefined, view: 'fs' | 'id'): boolean {
  if (kgid === undefined) return false;
  if (view === 'fs') return kgid === cred.fsgid || cred.fsgroups.includes(kgid);
  return kgid === cred.kfsgid || cred.groups.includes(kgid);
}

/** The ids as the process itself sees them (getresuid, /proc/PID/status), for tables and reasons. */
export interface CredView {
  readonly ns: string;
  readonly uid: readonly [number, number, number, number];
  readonly gid: readonly [number, number, number, number];
  readonly groups: readonly number[];
  readonly capEffective: string;
}

/**
 * What /proc/PID/status shows inside the process's namespace: real,
 * effective, saved through the id map, fs through the fsid map (FSID-v2-05;
 * its example: container root with maps 0 100000 100000 / 0 300000 100000
 * shows Uid 0 0 0 0 inside and 100000 100000 100000 300000 from the host).
 */
export function viewCred(cred: Cred, ns: UserNamespace = cred.userNs): CredView {
  const ids = (kind: IdKind, r: number, e: number, s: number, fs: number) =>
    [fromKidMunged(ns, kind, r), fromKidMunged(ns, kind, e), fromKidMunged(ns, kind, s), fromKfsidMunged(ns, kind, fs)] as const;
  return {
    ns: cred.userNs.name,
    uid: ids('uid', cred.uid, cred.euid, cred.suid, cred.fsuid),
    gid: ids('gid', cred.gid, cred.egid, cred.sgid, cred.fsgid),
    groups: cred.groups.map((g) => fromKidMunged(ns, 'gid', g)),
    capEffective: formatCaps(cred.capEffective),
  };
}

/** "uid 0/0/0/0 gid 0/0/0/0 in c1 (kuid 100000, fsuid k300000), caps all". */
export function describeCred(cred: Cred): string {
  const v = viewCred(cred);
  return `uid ${v.uid.join('/')} gid ${v.gid.join('/')} in ${v.ns} (euid k${cred.euid}, fsuid k${cred.fsuid}, fsgid k${cred.fsgid}), caps ${v.capEffective}`;
}
