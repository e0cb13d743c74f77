import type { FreeRuns } from './free-slots.js';
import type { Range } from './interval-set.js';
import { type Pool, SLOT, alignDown, alignUp } from './pool.js';

/** Number of 65536-id slots in the u32 id space. */
export const SLOT_COUNT = 65536;
/** Slots per summary block: 256 blocks of 256 slots. */
const BLOCK = 256;

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
 *
 * For the common one-slot request a second level keeps the number of free
 * slots in each block of 256, so counting the free slots of a pool and
 * finding the k-th one touch at most 256 block counts and 512 slots.
 */
export class SlotMap {
  private readonly counts = new Uint32Array(SLOT_COUNT);
  private readonly blockFree = new Uint16Array(SLOT_COUNT / BLOCK).fill(BLOCK);

  static of(ranges: Iterable<Range>): SlotMap {
    const m = new SlotMap();
    for (const r of ranges) m.block(r.start, r.end);
    return m;
  }

  clone(): SlotMap {
    const m = new SlotMap();
    m.counts.set(this.counts);
    m.blockFree.set(this.blockFree);
    return m;
  }

  /** Adds `other`'s blockers to this map. */
  add(other: SlotMap): this {
    for (let i = 0; i < SLOT_COUNT; i++) {
      if (this.counts[i] === 0 && other.counts[i] !== 0) this.blockFree[i >>> 8]--;
      this.counts[i] += other.counts[i];
    }
    return this;
  }

  block(start: number, end: number): void {
    if (end <= start) return;
    for (let s = Math.floor(start / SLOT), e = Math.ceil(end / SLOT); s < e; s++) {
      if (this.counts[s]++ === 0) this.blockFree[s >>> 8]--;
    }
  }

  unblock(start: number, end: number): void {
    if (end <= start) return;
    for (let s = Math.floor(start / SLOT), e = Math.ceil(end / SLOT); s < e; s++) {
      if (this.counts[s] === 0) throw new RangeError(`slot ${s} unblocked more often than blocked`);
      if (--this.counts[s] === 0) this.blockFree[s >>> 8]++;
    }
  }

  /** Free slots in slot indices [lo, hi). */
  private freeIn(lo: number, hi: number): number {
    let n = 0;
    let s = lo;
    // Partial first block, whole blocks from their summary, partial last block.
    for (; s < hi && (s & (BLOCK - 1)) !== 0; s++) if (this.counts[s] === 0) n++;
    for (; s + BLOCK <= hi; s += BLOCK) n += this.blockFree[s >>> 8];
    for (; s < hi; s++) if (this.counts[s] === 0) n++;
    return n;
  }

  /** The slot index of the k-th free slot in [lo, hi) (0-based); k < freeIn(lo, hi). */
  private nthFreeIn(lo: number, hi: number, k: number): number {
    let rest = k;
    let s = lo;
    for (; s < hi && (s & (BLOCK - 1)) !== 0; s++) if (this.counts[s] === 0 && rest-- === 0) return s;
    for (; s + BLOCK <= hi && rest >= this.blockFree[s >>> 8]; s += BLOCK) rest -= this.blockFree[s >>> 8];
    for (; s < hi; s++) if (this.counts[s] === 0 && rest-- === 0) return s;
    throw new RangeError(`free slot ${k} is outside [${lo}, ${hi})`);
  }

  /** Number of free one-slot candidates in the pool (freeRuns(pool, SLOT).total, without the runs). */
  countFreeSlots(pool: Pool): number {
    let n = 0;
    for (const r of pool.ranges) n += this.freeIn(alignUp(r.start) / SLOT, alignDown(r.end) / SLOT);
    return n;
  }

  /** Start id of the k-th free slot of the pool, in pool order (as nthStart(freeRuns(pool, SLOT), k)). */
  nthFreeSlot(pool: Pool, k: number): number {
    let rest = k;
    for (const r of pool.ranges) {
      const lo = alignUp(r.start) / SLOT;
      const hi = alignDown(r.end) / SLOT;
      const n = this.freeIn(lo, hi);
      if (rest < n) return this.nthFreeIn(lo, hi, rest) * SLOT;
      rest -= n;
    }
    throw new RangeError(`free slot ${k} is outside the pool`);
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
