import { type Exclusions, type Range, SlotMap } from '../alloc/index.js';

/**
 * What the chooser needs of a scope: slot maps of the ids that are not free
 * (the scope's allocations plus the host's exclusions), per side and for
 * both sides together.
 */
export interface ScopeView {
  readonly generation: number;
  readonly exclusions: Exclusions;
  readonly uid: SlotMap;
  readonly gid: SlotMap;
  readonly both: SlotMap;
}

/**
 * Per-process cache of scope views, keyed by scope and valid for one
 * generation of that scope. Every change to a scope bumps its generation in
 * the database inside the same transaction, so a view whose generation still
 * matches is exactly what a fresh read would give; another process's change
 * makes it stale and it is rebuilt. This keeps allocation O(pool slots)
 * instead of O(allocations) per request without trusting the cache for
 * correctness (the database's own checks still run).
 */
export class ScopeCache {
  private readonly views = new Map<number, ScopeView>();
  private readonly excluded = new WeakMap<Exclusions, { uid: SlotMap; gid: SlotMap }>();

  constructor(private readonly capacity = 4) {}

  get(key: number, generation: number, exclusions: Exclusions): ScopeView | undefined {
    const v = this.views.get(key);
    if (!v || v.generation !== generation || v.exclusions !== exclusions) return undefined;
    // Refresh recency (Map keeps insertion order; the oldest is evicted first).
    this.views.delete(key);
    this.views.set(key, v);
    return v;
  }

  build(key: number, generation: number, exclusions: Exclusions, ranges: readonly { uid: Range; gid: Range }[]): ScopeView {
    let ex = this.excluded.get(exclusions);
    if (!ex) {
      ex = { uid: SlotMap.of(exclusions.uid), gid: SlotMap.of(exclusions.gid) };
      this.excluded.set(exclusions, ex);
    }
    const uid = ex.uid.clone();
    const gid = ex.gid.clone();
    for (const r of ranges) {
      uid.block(r.uid.start, r.uid.end);
      gid.block(r.gid.start, r.gid.end);
    }
    const view: ScopeView = { generation, exclusions, uid, gid, both: uid.clone().add(gid) };
    this.put(key, view);
    return view;
  }

  /** After a committed insert (+1) or delete (-1) that moved the scope from `from` to `to`. */
  apply(key: number, from: number, to: number, change: { uid: Range; gid: Range }, sign: 1 | -1): void {
    const v = this.views.get(key);
    if (!v || v.generation !== from) {
      this.views.delete(key);
      return;
    }
    const op = sign === 1 ? 'block' : 'unblock';
    v.uid[op](change.uid.start, change.uid.end);
    v.gid[op](change.gid.start, change.gid.end);
    v.both[op](change.uid.start, change.uid.end);
    v.both[op](change.gid.start, change.gid.end);
    this.put(key, { ...v, generation: to });
  }

  drop(key: number): void {
    this.views.delete(key);
  }

  private put(key: number, view: ScopeView): void {
    this.views.delete(key);
    this.views.set(key, view);
    while (this.views.size > this.capacity) this.views.delete(this.views.keys().next().value as number);
  }
}
