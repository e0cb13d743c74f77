import { type Cred, inGroupP } from '../userns/cred.js';
import {
  type IdKind,
  fromKfsidMunged,
  fromKidMunged,
  fsidMapName,
  kfsidHasMapping,
  kidHasMapping,
  makeKfsid,
  makeKid,
} from '../userns/lookup.js';
import type { UserNamespace } from '../userns/namespace.js';
import type { Superblock } from './inode.js';

/**
 * The one switch the series puts into every VFS use site: an ordinary
 * superblock uses the fsid maps and cred->fsuid; a userns-visible one (proc,
 * sysfs) keeps the id maps and cred->kfsuid (FSID-v2-15..22). Without fsid
 * maps the two views are the same functions.
 */
export interface FsView {
  readonly kind: 'fs' | 'id';
  /** get_current_fsuid(inode) / get_current_fsgid(inode). */
  currentFsid(cred: Cred, kind: IdKind): number;
  /** k{fs}uid_has_mapping(ns, kid). */
  hasMapping(ns: UserNamespace, kind: IdKind, kid: number | undefined): boolean;
  /** from_k{fs}uid_munged: what stat reports. */
  fromMunged(ns: UserNamespace, kind: IdKind, kid: number | undefined): number;
  /** make_k{fs}uid: how chown turns a requested id into a kernel id. */
  make(ns: UserNamespace, kind: IdKind, id: number): number | undefined;
  /** in_group_p against the matching group translation. */
  inGroup(cred: Cred, kgid: number | undefined): boolean;
  /** Which map this view reads in `ns`, for reasons. */
  mapName(ns: UserNamespace, kind: IdKind): string;
}

const FS: FsView = {
  kind: 'fs',
  currentFsid: (cred, kind) => (kind === 'uid' ? cred.fsuid : cred.fsgid),
  hasMapping: (ns, kind, kid) => kfsidHasMapping(ns, kind, kid),
  fromMunged: (ns, kind, kid) => (kid === undefined ? 65534 : fromKfsidMunged(ns, kind, kid)),
  make: (ns, kind, id) => makeKfsid(ns, kind, id),
  inGroup: (cred, kgid) => inGroupP(cred, kgid, 'fs'),
  mapName: (ns, kind) => fsidMapName(ns, kind),
};

const ID: FsView = {
  kind: 'id',
  currentFsid: (cred, kind) => (kind === 'uid' ? cred.kfsuid : cred.kfsgid),
  hasMapping: (ns, kind, kid) => kidHasMapping(ns, kind, kid),
  fromMunged: (ns, kind, kid) => (kid === undefined ? 65534 : fromKidMunged(ns, kind, kid)),
  make: (ns, kind, id) => makeKid(ns, kind, id),
  inGroup: (cred, kgid) => inGroupP(cred, kgid, 'id'),
  mapName: (_ns, kind) => `${kind}_map (userns-visible superblock)`,
};

export function fsViewOf(sb: Superblock): FsView {
  return sb.kind === 'userns-visible' ? ID : FS;
}
