import type { FreeRuns } from './free-slots.js';
import type { Range } from './interval-set.js';
import { type Pool, SLOT, alignDown, alignUp } from './pool.js';

/** Number of 65536-id slots in the u32 id space. */
export const SLOT_COUNT = 65536;

/**
 * The id space at slot granularity: for each of the 65536 slots, how many
 * blockers (allocations, excluded ids, reserved ranges) touch it. A slot is
 * free when its count is 0. Counting, rather than a bit, lets a range be
 * unblocked without disturbing another blocker in the same slot.
 *
 * This is what the registry keeps per scope: adding or removing an
 * allocation costs its slots, and the free set of a pool is one tight scan
 * of a typed array (about 30 µs for systemd's whole container range),
 * however fragmented the allocations are. free-slots.ts computes the same
 * runs from an IntervalSet at id level; the tests check that they agree.
 */
export class SlotMap {
  private readonly counts = new Uint32Array(SLOT_COUNT);

  static of(ranges: Iterable<Range>): SlotMap {
    const m = new SlotMap();
    for (const r of ranges) m.block(r.start, r.end);
    return m;
  }

  clone(): SlotMap {
    const m = new SlotMap();
    m.counts.set(this.counts);
    return m;
  }

  /** Adds `other`'s blockers to this map. */
  add(other: SlotMap): this {
    for (let i = 0; i < SLOT_COUNT; i++) this.counts[i] += other.counts[i];
    return this;
  }

  block(start: number, end: number): void {
    if (end <= start) return;
    for (let s = Math.floor(start / SLOT), e = Math.ceil(end / SLOT); s < e; s++) this.counts[s]++;
  }

  unblock(start: number, end: number): void {
    if (end <= start) return;
    for (let s = Math.floor(start / SLOT), e = Math.ceil(end / SLOT); s < e; s++) {
      if (this.counts[s] === 0) throw new RangeError(`slot ${s} unblocked more often than blocked`);
      this.counts[s]--;
    }
  }

  /** True when no id of [start, end) is blocked (checked slot by slot). */
  isFree(start: number, end: number): boolean {
    for (let s = Math.floor(start / SLOT), e = Math.ceil(end / SLOT); s < e; s++) if (this.counts[s] !== 0) return false;
    return true;
  }

  /** The free candidate starts of a pool for `size`, as runs (see free-slots.ts). */
  freeRuns(pool: Pool, size: number): FreeRuns {
    const m = size / SLOT;
    const firsts: number[] = [];
    const counts: number[] = [];
    let total = 0;
    let freeIds = 0;
    let largest = 0;
    const c = this.counts;
    for (const r of pool.ranges) {
      const lo = alignUp(r.start) / SLOT;
      const hi = alignDown(r.end) / SLOT;
      let s = lo;
      while (s < hi) {
        while (s < hi && c[s] !== 0) s++;
        const runStart = s;
        while (s < hi && c[s] === 0) s++;
        const len = s - runStart;
        if (len === 0) continue;
        freeIds += len * SLOT;
        if (len * SLOT > largest) largest = len * SLOT;
        if (len >= m) {
          firsts.push(runStart * SLOT);
          counts.push(len - m + 1);
          total += len - m + 1;
        }
      }
    }
    return { size, firsts, counts, total, freeIds, largestFreeRun: largest };
  }
}
