import { type Allocation, DEFAULT_POOL, IntervalSet, type Pool, SLOT, freeRuns, slotBounds } from '../alloc/index.js';

/**
 * How full the pool is, as `fsidmap alloc` sees it: the default pool
 * (systemd's container range) on the uid side, the realm's top-level
 * allocations and the host's exclusions (reserved ranges, real users) taken
 * out. Fragmentation is the share of free slots outside the largest free
 * run: 0 when all free slots are one run, towards 1 when they are scattered
 * (then a large --size fails although many slots are free).
 */
export interface PoolStats {
  readonly label: string;
  readonly ranges: readonly (readonly [number, number])[];
  readonly slots: number;
  readonly allocatedSlots: number;
  readonly freeSlots: number;
  /** Slots neither allocated nor free: an excluded id (a real user, a reserved range) lies in them. */
  readonly excludedSlots: number;
  readonly largestFreeRun: number;
  readonly freeRuns: number;
  readonly fragmentation: number;
}

/** One point of the pool's history: when, and the counts then. */
export interface PoolSample {
  readonly t: number;
  readonly allocated: number;
  readonly free: number;
  readonly largest: number;
  readonly fragmentation: number;
}

function slotsOf(pool: Pool): number {
  return pool.ranges.reduce((n, r) => {
    const b = slotBounds(pool, r);
    return n + Math.max(0, b.end - b.start) / SLOT;
  }, 0);
}

export function poolStats(allocations: readonly Allocation[], excluded: IntervalSet, pool: Pool = DEFAULT_POOL): PoolStats {
  const taken = IntervalSet.of(allocations.filter((a) => a.parent === null).map((a) => a.uid));
  const poolSet = IntervalSet.of(pool.ranges);
  let allocatedIds = 0;
  for (const r of taken) for (const g of poolSet) allocatedIds += Math.max(0, Math.min(r.end, g.end) - Math.max(r.start, g.start));
  const blocked = IntervalSet.of([...excluded, ...taken]);
  const free = freeRuns(pool, blocked, SLOT);
  const slots = slotsOf(pool);
  const allocatedSlots = Math.round(allocatedIds / SLOT);
  const freeSlots = free.freeIds / SLOT;
  return {
    label: pool.label,
    ranges: pool.ranges.map((r) => [r.start, r.end - 1] as const),
    slots,
    allocatedSlots,
    freeSlots,
    excludedSlots: Math.max(0, slots - allocatedSlots - freeSlots),
    largestFreeRun: free.largestFreeRun / SLOT,
    freeRuns: free.firsts.length,
    fragmentation: freeSlots === 0 ? 0 : 1 - free.largestFreeRun / free.freeIds,
  };
}

/**
 * The last `capacity` samples, oldest first: kept in memory by the server
 * (a fixed ring, so memory does not grow with uptime), one per change and
 * one per period while nothing changes.
 */
export class PoolHistory {
  private readonly ring: PoolSample[] = [];

  constructor(private readonly capacity = 720) {}

  add(t: number, s: PoolStats): void {
    this.ring.push({ t, allocated: s.allocatedSlots, free: s.freeSlots, largest: s.largestFreeRun, fragmentation: s.fragmentation });
    if (this.ring.length > this.capacity) this.ring.splice(0, this.ring.length - this.capacity);
  }

  get samples(): readonly PoolSample[] {
    return this.ring.slice();
  }

  get last(): PoolSample | undefined {
    return this.ring[this.ring.length - 1];
  }
}
