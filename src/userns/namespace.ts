import { IdMap, type MapKind } from '../idmap/index.js';

/**
 * Which kernel the model is:
 * - `off`: today's kernel (CONFIG_USER_NS_FSID=n, or never merged): there are
 *   no fsid maps, and every fsid lookup is the id-map lookup.
 * - `v3`: the series' v3 semantics: fsid maps are written before the id map
 *   or not at all; an id map written while the fsid map is empty is mirrored
 *   into it (through the parent's fsid map).
 * - `v2`: the v2 semantics kept for comparison: fsid maps may be written in
 *   any order, and a lookup in an empty fsid map falls back to the id map.
 *   That fallback is what Jann Horn showed breaks nesting (kernel-semantics.md §4.2).
 */
export type FsidSemantics = 'off' | 'v3' | 'v2';

export const FSID_SEMANTICS: readonly FsidSemantics[] = ['off', 'v3', 'v2'];

/** create_user_ns refuses a child of a namespace whose level is above this: the deepest level is 33. */
export const MAX_USERNS_PARENT_LEVEL = 32;

export type SetgroupsState = 'allow' | 'deny';

/**
 * struct user_namespace as far as ids are concerned. Installed maps hold
 * kernel ids in their lower column (map_write composed them through the
 * parent), so every lookup is one step, as in the kernel. The initial
 * namespace has identity maps for all four kinds and no parent.
 *
 * A namespace is mutable the way the kernel's is: maps go from empty to
 * written exactly once (map-write.ts is the only writer), setgroups goes
 * from allow to deny once.
 */
export class UserNamespace {
  readonly id: number;
  readonly name: string;
  readonly parent: UserNamespace | null;
  readonly level: number;
  /** ns->owner / ns->group: the creator's euid/egid (kernel ids). */
  readonly owner: number;
  readonly group: number;
  readonly semantics: FsidSemantics;
  /** ns->parent_could_setfcap: whether the creator held CAP_SETFCAP (verify_root_map). */
  readonly parentCouldSetfcap: boolean;
  private readonly maps: Record<MapKind, IdMap>;
  private setgroupsState: SetgroupsState;

  private constructor(init: {
    id: number;
    name: string;
    parent: UserNamespace | null;
    owner: number;
    group: number;
    semantics: FsidSemantics;
    parentCouldSetfcap: boolean;
    setgroups: SetgroupsState;
    maps: Record<MapKind, IdMap>;
  }) {
    this.id = init.id;
    this.name = init.name;
    this.parent = init.parent;
    this.level = init.parent === null ? 0 : init.parent.level + 1;
    this.owner = init.owner;
    this.group = init.group;
    this.semantics = init.semantics;
    this.parentCouldSetfcap = init.parentCouldSetfcap;
    this.maps = init.maps;
    this.setgroupsState = init.setgroups;
  }

  /** init_user_ns: identity maps `0 0 4294967295` for uid, gid, fsuid and fsgid; setgroups allowed. */
  static initial(semantics: FsidSemantics = 'v3', name = 'init'): UserNamespace {
    const id = IdMap.identity();
    return new UserNamespace({
      id: 0,
      name,
      parent: null,
      owner: 0,
      group: 0,
      semantics,
      parentCouldSetfcap: true,
      setgroups: 'allow',
      maps: { uid: id, gid: id, fsuid: id, fsgid: id },
    });
  }

  /**
   * The bookkeeping half of create_user_ns, after its checks passed (see
   * userns/unshare.ts): empty maps, the parent's setgroups state, the
   * parent's semantics.
   */
  static child(
    parent: UserNamespace,
    init: { id: number; name: string; owner: number; group: number; parentCouldSetfcap: boolean },
  ): UserNamespace {
    const empty = IdMap.empty();
    return new UserNamespace({
      ...init,
      parent,
      semantics: parent.semantics,
      setgroups: parent.setgroupsState,
      maps: { uid: empty, gid: empty, fsuid: empty, fsgid: empty },
    });
  }

  /** The installed map of that kind (lower column in kernel ids); empty until written. */
  map(kind: MapKind): IdMap {
    return this.maps[kind];
  }

  isWritten(kind: MapKind): boolean {
    return !this.maps[kind].isEmpty;
  }

  get setgroups(): SetgroupsState {
    return this.setgroupsState;
  }

  /** Only map-write.ts calls this, after every check of map_write passed. */
  installMap(kind: MapKind, map: IdMap): void {
    if (this.isWritten(kind)) throw new Error(`internal: ${kind}_map of ${this.name} is write-once`);
    this.maps[kind] = map;
  }

  /** Only map-write.ts calls this (proc_setgroups_write). */
  denySetgroups(): void {
    this.setgroupsState = 'deny';
  }

  /** True when `this` is `other` or one of its ancestors. */
  isAncestorOrSelf(other: UserNamespace): boolean {
    for (let ns: UserNamespace | null = other; ns; ns = ns.parent) if (ns === this) return true;
    return false;
  }

  /** initial_idmapping(): the uid and gid maps are the identity (0 0 4294967295). */
  get hasInitialIdmapping(): boolean {
    const id = IdMap.identity();
    return this.maps.uid.equals(id) && this.maps.gid.equals(id);
  }

  toString(): string {
    return this.name;
  }
}
