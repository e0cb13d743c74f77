import type { Allocation } from './allocation.js';
import type { Range } from './interval-set.js';
import { SYSTEMD_CONTAINER_RANGE } from './pool.js';
import { reservedRangeOf } from './reserved.js';

/** One /etc/subuid or /etc/subgid line, as a half-open range. */
export interface SubidRange extends Range {
  readonly owner: string;
  /** Its line in the file (1-based), when read from one. */
  readonly line?: number;
}

/** A passwd or group entry: a name and its id. */
export interface NamedId {
  readonly name: string;
  readonly id: number;
}

/** What the host says about its ids, read by the caller (src/alloc-host) and passed in. */
export interface HostFacts {
  readonly subuid: readonly SubidRange[];
  readonly subgid: readonly SubidRange[];
  readonly users: readonly NamedId[];
  readonly groups: readonly NamedId[];
}

export type IdSide = 'uid' | 'gid';

export type WhoEntry =
  | { readonly source: 'allocation'; readonly side: IdSide; readonly allocation: Allocation; readonly offset: number }
  | { readonly source: 'subuid' | 'subgid'; readonly side: IdSide; readonly owner: string; readonly range: Range; readonly offset: number }
  | { readonly source: 'user' | 'group'; readonly side: IdSide; readonly name: string }
  | { readonly source: 'reserved'; readonly range: Range; readonly purpose: string };

export interface WhoAnswer {
  readonly id: number;
  readonly entries: readonly WhoEntry[];
  /** No allocation, subordinate range, user or group holds the id (reserved ranges aside). */
  readonly nobody: boolean;
  /**
   * Sides on which two unrelated holders claim the id (say a container's
   * range and a user's subuid line): whoever holds one can reach the other's
   * files. A child inside its parent is not a conflict.
   */
  readonly conflicts: readonly IdSide[];
  /** The id lies in systemd's container range, fsidmap's default pool. */
  readonly inContainerRange: boolean;
}

/**
 * Explains a host id: every allocation (given: those of the registry that
 * contain it), subordinate range, user, group and reserved range that holds
 * it, on the uid side and on the gid side.
 */
export function explainId(id: number, allocations: readonly Allocation[], facts: HostFacts): WhoAnswer {
  const entries: WhoEntry[] = [];
  for (const side of ['uid', 'gid'] as const) {
    const holding = allocations
      .filter((a) => a[side].start <= id && id < a[side].end)
      .sort((a, b) => b[side].end - b[side].start - (a[side].end - a[side].start) || a.name.localeCompare(b.name));
    for (const a of holding) entries.push({ source: 'allocation', side, allocation: a, offset: id - a[side].start });
    const subids = side === 'uid' ? facts.subuid : facts.subgid;
    for (const s of subids) {
      if (s.start <= id && id < s.end)
        entries.push({
          source: side === 'uid' ? 'subuid' : 'subgid',
          side,
          owner: s.owner,
          range: { start: s.start, end: s.end },
          offset: id - s.start,
        });
    }
    for (const n of side === 'uid' ? facts.users : facts.groups) {
      if (n.id === id) entries.push({ source: side === 'uid' ? 'user' : 'group', side, name: n.name });
    }
  }
  const reserved = reservedRangeOf(id);
  if (reserved) entries.push({ source: 'reserved', range: { start: reserved.start, end: reserved.end }, purpose: reserved.purpose });
  return {
    id,
    entries,
    nobody: entries.every((e) => e.source === 'reserved'),
    conflicts: (['uid', 'gid'] as const).filter((side) => claims(entries, side) > 1),
    inContainerRange: SYSTEMD_CONTAINER_RANGE.start <= id && id < SYSTEMD_CONTAINER_RANGE.end,
  };
}

/** Independent claims on one side: allocations that are not the parent of another holder, subids, users/groups. */
function claims(entries: readonly WhoEntry[], side: IdSide): number {
  const allocs = entries.flatMap((e) => (e.source === 'allocation' && e.side === side ? [e.allocation] : []));
  const parents = new Set(allocs.map((a) => a.parent).filter((p): p is string => p !== null));
  const leaves = allocs.filter((a) => !parents.has(a.name));
  const others = entries.filter((e) => e.source !== 'allocation' && e.source !== 'reserved' && e.side === side);
  return leaves.length + others.length;
}
