// The allocation schemes of the peers (shared/docs/prior-art.md §2–§4),
// re-implemented over the same taken set so they can be compared in one run.
// Their binaries cannot be measured directly: nspawn keeps no registry (its
// "taken" set is lock files and file ownership), and Incus and Podman bury
// the scan inside their daemons and stores.
import { type Pool, SLOT, type RandomSource, alignDown, alignUp } from '../src/alloc/index.js';

/** Sorted, disjoint [start, end) ranges that are taken. */
export type Taken = { starts: number[]; ends: number[] };

function overlaps(t: Taken, start: number, end: number): boolean {
  // Binary search for the first taken range ending after start.
  let lo = 0;
  let hi = t.ends.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (t.ends[mid] > start) hi = mid;
    else lo = mid + 1;
  }
  return lo < t.starts.length && t.starts[lo] < end;
}

/**
 * Incus isolated maps, Podman --userns=auto, shadow's find_free_range: walk
 * the sorted allocations from the bottom and take the first hole that fits.
 * Never fails while a hole exists, but always picks the same lowest hole
 * (two hosts without a shared registry collide every time) and costs a scan
 * of every allocation below it.
 */
export function firstFit(pool: Pool, taken: Taken, size: number): number | undefined {
  const r = pool.ranges[0];
  let cursor = alignUp(r.start);
  for (let i = 0; i < taken.starts.length; i++) {
    if (taken.ends[i] <= cursor) continue;
    if (taken.starts[i] >= cursor + size) break;
    cursor = alignUp(taken.ends[i]);
  }
  return cursor + size <= alignDown(r.end) ? cursor : undefined;
}

/**
 * systemd-nspawn --private-users=pick and nsresourced: a 64K-aligned random
 * candidate in the container range, up to 100 tries, then "Failed to pick
 * suitable UID/GID range". (nspawn hashes the machine name for its first
 * try; with a random name that is one more random try.)
 */
export function retryRandom(pool: Pool, taken: Taken, size: number, random: RandomSource, tries = 100): number | undefined {
  const r = pool.ranges[0];
  const lo = alignUp(r.start) / SLOT;
  const n = (alignDown(r.end) - size) / SLOT - lo + 1;
  for (let i = 0; i < tries; i++) {
    const start = (lo + random.below(n)) * SLOT;
    if (!overlaps(taken, start, start + size)) return start;
  }
  return undefined;
}
