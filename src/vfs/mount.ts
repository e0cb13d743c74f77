import type { IdMap } from '../idmap/index.js';
import { type IdKind, fromKid, makeKid } from '../userns/lookup.js';
import type { UserNamespace } from '../userns/namespace.js';
import type { Inode, Superblock } from './inode.js';

/**
 * struct mnt_idmap: its own copy of a user namespace's uid_map and gid_map,
 * taken when the mount is made idmapped (copy_mnt_idmap). `null` on a Mount
 * is nop_mnt_idmap: no translation.
 */
export interface MountIdmap {
  readonly uid: IdMap;
  readonly gid: IdMap;
  /** The namespace the maps were copied from, for reasons. */
  readonly from: string;
}

/** copy_mnt_idmap: the mount keeps the namespace's installed id maps (never its fsid maps). */
export function idmapFromNs(ns: UserNamespace): MountIdmap {
  return { uid: ns.map('uid'), gid: ns.map('gid'), from: ns.name };
}

export interface Mount {
  readonly id: number;
  /** Where it is attached, absolute and normalized ("/" for the root mount). */
  readonly path: string;
  readonly sb: Superblock;
  /** The dentry it shows: the superblock root, or a directory inside it for a bind mount. */
  readonly root: Inode;
  readonly idmap: MountIdmap | null;
}

/**
 * make_vfsuid / make_vfsgid (fs/mnt_idmapping.c): the kernel id of an inode
 * owner as seen through a mount. The on-disk id (from_kuid through
 * s_user_ns, the raw value when that is an initial idmapping) is looked up
 * in the first column of the mount's map; the lower column is the vfsuid.
 * Undefined is INVALID_VFSUID.
 */
export function makeVfsid(idmap: MountIdmap | null, fsUserns: UserNamespace, kind: IdKind, kid: number | undefined): number | undefined {
  if (kid === undefined) return undefined;
  if (idmap === null) return kid;
  const raw = fsUserns.hasInitialIdmapping ? kid : fromKid(fsUserns, kind, kid);
  if (raw === undefined) return undefined;
  return idmap[kind].mapIdDown(raw);
}

/** from_vfsuid / from_vfsgid: back from a vfsuid to the kernel id stored in the inode. */
export function fromVfsid(idmap: MountIdmap | null, fsUserns: UserNamespace, kind: IdKind, vfsid: number | undefined): number | undefined {
  if (vfsid === undefined) return undefined;
  if (idmap === null) return vfsid;
  const raw = idmap[kind].mapIdUp(vfsid);
  if (raw === undefined) return undefined;
  return fsUserns.hasInitialIdmapping ? raw : makeKid(fsUserns, kind, raw);
}

/** i_uid_into_vfsuid / i_gid_into_vfsgid. */
export function inodeVfsid(idmap: MountIdmap | null, inode: Inode, kind: IdKind): number | undefined {
  return makeVfsid(idmap, inode.sb.userNs, kind, kind === 'uid' ? inode.uid : inode.gid);
}

/** vfsuid_has_fsmapping: the vfsuid maps back to an id the filesystem can store. */
export function vfsidHasFsmapping(idmap: MountIdmap | null, fsUserns: UserNamespace, kind: IdKind, vfsid: number | undefined): boolean {
  const k = fromVfsid(idmap, fsUserns, kind, vfsid);
  return k !== undefined && fromKid(fsUserns, kind, k) !== undefined;
}

/** "the mount's idmap (copied from holder)" or "no idmap". */
export function describeIdmap(m: Mount): string {
  return m.idmap ? `idmapped mount ${m.path} (maps of ${m.idmap.from})` : `mount ${m.path}`;
}
