import { IdMap, OVERFLOW_ID } from '../idmap/index.js';
import type { UserNamespace } from './namespace.js';

/**
 * The kernel's id conversions, one step each because installed maps hold
 * kernel ids. Failure policy is in the type: make_* and from_* return
 * undefined where the kernel returns INVALID_UID ((u32)-1); *_munged never
 * fail (overflow id 65534, as stat and getuid show).
 */
export type IdKind = 'uid' | 'gid';

/** The map a given kind of lookup uses: id map or fsid map, after the semantics' rules. */
export function fsidMapOf(ns: UserNamespace, kind: IdKind): IdMap {
  const fsKind = kind === 'uid' ? 'fsuid' : 'fsgid';
  switch (ns.semantics) {
    // CONFIG_USER_NS_FSID=n: include/linux/fsuidgid.h collapses make_kfsuid to make_kuid.
    case 'off':
      return ns.map(kind);
    // v2 make_kfsuid: "if (!ns->fsuid_map.nr_extents) use uid_map" (quoted in Jann Horn's review of v2-04).
    case 'v2':
      return ns.isWritten(fsKind) ? ns.map(fsKind) : ns.map(kind);
    // v3: no fallback; an empty fsid map maps nothing (v3 mirrors the id map into it when it is written).
    case 'v3':
      return ns.map(fsKind);
  }
}

/** Which map fsidMapOf picked, for reasons: "fsuid_map", "uid_map (v2 fallback)", "uid_map (no fsid maps)". */
export function fsidMapName(ns: UserNamespace, kind: IdKind): string {
  const fsKind = kind === 'uid' ? 'fsuid' : 'fsgid';
  if (ns.semantics === 'off') return `${kind}_map (no fsid maps)`;
  if (ns.semantics === 'v2' && !ns.isWritten(fsKind)) return `${kind}_map (v2 fallback: ${fsKind}_map empty)`;
  return `${fsKind}_map`;
}

// ---- id maps: kernel/user_namespace.c ----

/** make_kuid / make_kgid: map_id_down(&ns->uid_map, id). */
export function makeKid(ns: UserNamespace, kind: IdKind, id: number): number | undefined {
  return ns.map(kind).mapIdDown(id);
}

/** from_kuid / from_kgid: map_id_up(&ns->uid_map, kid). */
export function fromKid(ns: UserNamespace, kind: IdKind, kid: number): number | undefined {
  return ns.map(kind).mapIdUp(kid);
}

/** from_kuid_munged / from_kgid_munged: overflowuid (65534) when unmapped. */
export function fromKidMunged(ns: UserNamespace, kind: IdKind, kid: number): number {
  return fromKid(ns, kind, kid) ?? OVERFLOW_ID;
}

/** kuid_has_mapping / kgid_has_mapping. */
export function kidHasMapping(ns: UserNamespace, kind: IdKind, kid: number | undefined): boolean {
  return kid !== undefined && fromKid(ns, kind, kid) !== undefined;
}

/** make_kuid (kernel/user_namespace.c). */
export const makeKuid = (ns: UserNamespace, uid: number) => makeKid(ns, 'uid', uid);
/** make_kgid (kernel/user_namespace.c). */
export const makeKgid = (ns: UserNamespace, gid: number) => makeKid(ns, 'gid', gid);
/** from_kuid (kernel/user_namespace.c). */
export const fromKuid = (ns: UserNamespace, kuid: number) => fromKid(ns, 'uid', kuid);
/** from_kgid (kernel/user_namespace.c). */
export const fromKgid = (ns: UserNamespace, kgid: number) => fromKid(ns, 'gid', kgid);
/** from_kuid_munged (kernel/user_namespace.c). */
export const fromKuidMunged = (ns: UserNamespace, kuid: number) => fromKidMunged(ns, 'uid', kuid);
/** from_kgid_munged (kernel/user_namespace.c). */
export const fromKgidMunged = (ns: UserNamespace, kgid: number) => fromKidMunged(ns, 'gid', kgid);

// ---- fsid maps: include/linux/fsuidgid.h of the series (FSID-v3-04) ----

/** make_kfsuid / make_kfsgid: the id through the fsid map (semantics decide which map that is). */
export function makeKfsid(ns: UserNamespace, kind: IdKind, id: number): number | undefined {
  return fsidMapOf(ns, kind).mapIdDown(id);
}

/** from_kfsuid / from_kfsgid. */
export function fromKfsid(ns: UserNamespace, kind: IdKind, kid: number): number | undefined {
  return fsidMapOf(ns, kind).mapIdUp(kid);
}

/** from_kfsuid_munged / from_kfsgid_munged. */
export function fromKfsidMunged(ns: UserNamespace, kind: IdKind, kid: number): number {
  return fromKfsid(ns, kind, kid) ?? OVERFLOW_ID;
}

/** kfsuid_has_mapping / kfsgid_has_mapping. */
export function kfsidHasMapping(ns: UserNamespace, kind: IdKind, kid: number | undefined): boolean {
  return kid !== undefined && fromKfsid(ns, kind, kid) !== undefined;
}

/** kfsuid_to_kuid: up the fsid map, down the id map (identity without fsid maps). */
export function kfsidToKid(ns: UserNamespace, kind: IdKind, kfsid: number): number | undefined {
  const id = fromKfsid(ns, kind, kfsid);
  return id === undefined ? undefined : makeKid(ns, kind, id);
}

/** kuid_to_kfsuid: up the id map, down the fsid map. */
export function kidToKfsid(ns: UserNamespace, kind: IdKind, kid: number): number | undefined {
  const id = fromKid(ns, kind, kid);
  return id === undefined ? undefined : makeKfsid(ns, kind, id);
}

/** make_kfsuid (include/linux/fsuidgid.h). */
export const makeKfsuid = (ns: UserNamespace, uid: number) => makeKfsid(ns, 'uid', uid);
/** make_kfsgid (include/linux/fsuidgid.h). */
export const makeKfsgid = (ns: UserNamespace, gid: number) => makeKfsid(ns, 'gid', gid);
/** from_kfsuid_munged (include/linux/fsuidgid.h). */
export const fromKfsuidMunged = (ns: UserNamespace, kuid: number) => fromKfsidMunged(ns, 'uid', kuid);
/** from_kfsgid_munged (include/linux/fsuidgid.h). */
export const fromKfsgidMunged = (ns: UserNamespace, kgid: number) => fromKfsidMunged(ns, 'gid', kgid);

/** "k300005" / "invalid": how reasons print kernel ids. */
export function showKid(kid: number | undefined): string {
  return kid === undefined ? 'invalid' : `k${kid}`;
}
