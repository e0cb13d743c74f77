import type { IntervalSet } from './interval-set.js';
import { type Pool, SLOT, gridDown, gridUp, slotBounds } from './pool.js';

/**
 * The free set of a pool for one request size, as intervals of candidate
 * starts: run i holds the `counts[i]` starts firsts[i], firsts[i] + SLOT, …,
 * each of which begins a range of `size` ids that lies inside the pool and
 * touches no blocked id. Built by one sweep over the blocked intervals, so a
 * uniform choice among *all* candidates is a single draw of k in [0, total):
 * no retries, whatever the fill level.
 */
export interface FreeRuns {
  readonly size: number;
  readonly firsts: number[];
  readonly counts: number[];
  /** Number of candidate starts. */
  readonly total: number;
  /** Ids in whole free slots (what could still be handed out, in any sizes). */
  readonly freeIds: number;
  /** The longest run of whole free slots, in ids. */
  readonly largestFreeRun: number;
}

export function freeRuns(pool: Pool, blocked: IntervalSet, size: number): FreeRuns {
  const firsts: number[] = [];
  const counts: number[] = [];
  let total = 0;
  let freeIds = 0;
  let largestFreeRun = 0;
  for (const r of pool.ranges) {
    const slots = slotBounds(pool, r);
    for (const gap of blocked.gapsWithin(slots.start, slots.end)) {
      // Whole slots of the pool's grid inside the gap: blocking is at id level, the grid is the pool's.
      const lo = gridUp(gap.start, slots.start);
      const hi = gridDown(gap.end, slots.start);
      if (hi <= lo) continue;
      freeIds += hi - lo;
      if (hi - lo > largestFreeRun) largestFreeRun = hi - lo;
      if (hi - lo < size) continue;
      const n = (hi - lo - size) / SLOT + 1;
      firsts.push(lo);
      counts.push(n);
      total += n;
    }
  }
  return { size, firsts, counts, total, freeIds, largestFreeRun };
}

/** The k-th candidate start (0-based) in the order of the runs. */
export function nthStart(runs: FreeRuns, k: number): number {
  if (!Number.isInteger(k) || k < 0 || k >= runs.total) throw new RangeError(`candidate ${k} is outside [0, ${runs.total})`);
  let rest = k;
  for (let i = 0; i < runs.counts.length; i++) {
    if (rest < runs.counts[i]) return runs.firsts[i] + rest * SLOT;
    rest -= runs.counts[i];
  }
  throw new RangeError('unreachable: counts do not add up to total');
}

/** Number of starts on the pool's grid for `size` with nothing blocked: the hash's modulus. */
export function candidateCount(pool: Pool, size: number): number {
  let n = 0;
  for (const r of pool.ranges) {
    const { start: lo, end: hi } = slotBounds(pool, r);
    if (hi - lo >= size) n += (hi - lo - size) / SLOT + 1;
  }
  return n;
}

/** The k-th start on the pool's grid with nothing blocked. */
export function nthPoolStart(pool: Pool, size: number, k: number): number {
  let rest = k;
  for (const r of pool.ranges) {
    const { start: lo, end: hi } = slotBounds(pool, r);
    if (hi - lo < size) continue;
    const n = (hi - lo - size) / SLOT + 1;
    if (rest < n) return lo + rest * SLOT;
    rest -= n;
  }
  throw new RangeError(`pool start ${k} is outside the pool`);
}
