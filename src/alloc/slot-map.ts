import type { FreeRuns } from './free-slots.js';
import type { Range } from './interval-set.js';
import { type Pool, SLOT, gridOffset, slotBounds } from './pool.js';

/** Number of 65536-id slots in the u32 id space. */
export const SLOT_COUNT = 65536;
/** Slots per summary block: 256 blocks of 256 slots. */
const BLOCK = 256;

/**
 * One grid of slots, [offset + s·65536, offset + (s+1)·65536) for s in
 * [0, 65536): for each slot, how many blockers (allocations, excluded ids,
 * reserved ranges) touch it. A slot is free when its count is 0. Counting,
 * rather than a bit, lets a range be unblocked without disturbing another
 * blocker in the same slot. A blocker counts in every slot of this grid it
 * touches, so a candidate made of whole slots of this grid is free exactly
 * when none of its ids is blocked, wherever the blockers' own grids lie.
 *
 * For the common one-slot request a second level keeps the number of free
 * slots in each block of 256, so counting the free slots of a pool and
 * finding the k-th one touch at most 256 block counts and 512 slots.
 */
class Grid {
  readonly counts = new Uint32Array(SLOT_COUNT);
  readonly blockFree = new Uint16Array(SLOT_COUNT / BLOCK).fill(BLOCK);

  constructor(readonly offset: number) {}

  clone(): Grid {
    const g = new Grid(this.offset);
    g.counts.set(this.counts);
    g.blockFree.set(this.blockFree);
    return g;
  }

  add(other: Grid): void {
    for (let i = 0; i < SLOT_COUNT; i++) {
      if (this.counts[i] === 0 && other.counts[i] !== 0) this.blockFree[i >>> 8]--;
      this.counts[i] += other.counts[i];
    }
  }

  // Slot indices [lo, hi) that ids [start, end) touch, clipped to the grid (inline: block() is the cold path's hot loop).
  private lo(start: number): number {
    return Math.max(0, Math.floor((start - this.offset) / SLOT));
  }

  private hi(end: number): number {
    return Math.min(SLOT_COUNT, Math.ceil((end - this.offset) / SLOT));
  }

  block(start: number, end: number): void {
    const lo = this.lo(start);
    const hi = this.hi(end);
    for (let s = lo; s < hi; s++) if (this.counts[s]++ === 0) this.blockFree[s >>> 8]--;
  }

  unblock(start: number, end: number): void {
    const lo = this.lo(start);
    const hi = this.hi(end);
    for (let s = lo; s < hi; s++) {
      if (this.counts[s] === 0) throw new RangeError(`slot ${s} unblocked more often than blocked`);
      if (--this.counts[s] === 0) this.blockFree[s >>> 8]++;
    }
  }

  index(id: number): number {
    return (id - this.offset) / SLOT;
  }

  /** Free slots in slot indices [lo, hi). */
  freeIn(lo: number, hi: number): number {
    let n = 0;
    let s = lo;
    // Partial first block, whole blocks from their summary, partial last block.
    for (; s < hi && (s & (BLOCK - 1)) !== 0; s++) if (this.counts[s] === 0) n++;
    for (; s + BLOCK <= hi; s += BLOCK) n += this.blockFree[s >>> 8];
    for (; s < hi; s++) if (this.counts[s] === 0) n++;
    return n;
  }

  /** The slot index of the k-th free slot in [lo, hi) (0-based); k < freeIn(lo, hi). */
  nthFreeIn(lo: number, hi: number, k: number): number {
    let rest = k;
    let s = lo;
    for (; s < hi && (s & (BLOCK - 1)) !== 0; s++) if (this.counts[s] === 0 && rest-- === 0) return s;
    for (; s + BLOCK <= hi && rest >= this.blockFree[s >>> 8]; s += BLOCK) rest -= this.blockFree[s >>> 8];
    for (; s < hi; s++) if (this.counts[s] === 0 && rest-- === 0) return s;
    throw new RangeError(`free slot ${k} is outside [${lo}, ${hi})`);
  }

  isFree(start: number, end: number): boolean {
    const lo = this.lo(start);
    const hi = this.hi(end);
    for (let s = lo; s < hi; s++) if (this.counts[s] !== 0) return false;
    return true;
  }
}

/**
 * The id space at slot granularity, on every grid a pool asks for: the
 * 65536-aligned grid of ordinary pools, and the grid of each anchored pool
 * range (a subordinate range at 100000 has slots 100000 + k·65536). The
 * blockers themselves are kept (as a multiset), so a grid first needed by a
 * later request is built from them and then kept up to date like the rest.
 *
 * This is what the registry keeps per scope: adding or removing an
 * allocation costs its slots on each grid, and the free set of a pool is one
 * tight scan of a typed array (about 30 µs for systemd's whole container
 * range), however fragmented the allocations are. free-slots.ts computes the
 * same runs from an IntervalSet at id level; the tests check that they agree.
 */
export class SlotMap {
  // The blockers as parallel arrays (a multiset): cheap to fill, clone and merge on the cold path.
  private starts: number[] = [];
  private ends: number[] = [];
  private readonly grids = new Map<number, Grid>([[0, new Grid(0)]]);
  /** The grids' values, kept as an array: block() runs once per blocker and grid. */
  private gridList: Grid[] = [...this.grids.values()];

  static of(ranges: Iterable<Range>): SlotMap {
    const m = new SlotMap();
    for (const r of ranges) m.block(r.start, r.end);
    return m;
  }

  clone(): SlotMap {
    const m = new SlotMap();
    m.starts = this.starts.slice();
    m.ends = this.ends.slice();
    for (const [o, g] of this.grids) m.grids.set(o, g.clone());
    m.gridList = [...m.grids.values()];
    return m;
  }

  /** Adds `other`'s blockers to this map. */
  add(other: SlotMap): this {
    for (let i = 0; i < other.starts.length; i++) {
      this.starts.push(other.starts[i]);
      this.ends.push(other.ends[i]);
    }
    for (const [o, g] of this.grids) g.add(other.grid(o));
    return this;
  }

  block(start: number, end: number): void {
    if (end <= start) return;
    this.starts.push(start);
    this.ends.push(end);
    for (let i = 0; i < this.gridList.length; i++) this.gridList[i].block(start, end);
  }

  unblock(start: number, end: number): void {
    if (end <= start) return;
    // The latest matching blocker goes (the one just blocked, most often); the last takes its place.
    let i = this.starts.length - 1;
    while (i >= 0 && !(this.starts[i] === start && this.ends[i] === end)) i--;
    if (i < 0) throw new RangeError(`[${start}, ${end}) unblocked more often than blocked`);
    this.starts[i] = this.starts[this.starts.length - 1];
    this.ends[i] = this.ends[this.ends.length - 1];
    this.starts.pop();
    this.ends.pop();
    for (let i = 0; i < this.gridList.length; i++) this.gridList[i].unblock(start, end);
  }

  /** The grid whose slots start at offset + k·65536, built from the blockers on first use. */
  private grid(offset: number): Grid {
    let g = this.grids.get(offset);
    if (!g) {
      g = new Grid(offset);
      for (let i = 0; i < this.starts.length; i++) g.block(this.starts[i], this.ends[i]);
      this.grids.set(offset, g);
      this.gridList.push(g);
    }
    return g;
  }

  /** Each pool range with its grid and its slot indices [lo, hi). */
  private *parts(pool: Pool): Generator<{ g: Grid; lo: number; hi: number }> {
    for (const r of pool.ranges) {
      const b = slotBounds(pool, r);
      if (b.end <= b.start) continue;
      const g = this.grid(gridOffset(pool, r));
      yield { g, lo: g.index(b.start), hi: g.index(b.end) };
    }
  }

  /** Number of free one-slot candidates in the pool (freeRuns(pool, SLOT).total, without the runs). */
  countFreeSlots(pool: Pool): number {
    let n = 0;
    for (const { g, lo, hi } of this.parts(pool)) n += g.freeIn(lo, hi);
    return n;
  }

  /** Start id of the k-th free slot of the pool, in pool order (as nthStart(freeRuns(pool, SLOT), k)). */
  nthFreeSlot(pool: Pool, k: number): number {
    let rest = k;
    for (const { g, lo, hi } of this.parts(pool)) {
      const n = g.freeIn(lo, hi);
      if (rest < n) return g.offset + g.nthFreeIn(lo, hi, rest) * SLOT;
      rest -= n;
    }
    throw new RangeError(`free slot ${k} is outside the pool`);
  }

  /** True when no id of [start, end) is blocked, checked on the slots of the grid at `offset` (0: aligned). */
  isFree(start: number, end: number, offset = 0): boolean {
    return this.grid(offset).isFree(start, end);
  }

  /** The free candidate starts of a pool for `size`, as runs (see free-slots.ts). */
  freeRuns(pool: Pool, size: number): FreeRuns {
    const m = size / SLOT;
    const firsts: number[] = [];
    const counts: number[] = [];
    let total = 0;
    let freeIds = 0;
    let largest = 0;
    for (const { g, lo, hi } of this.parts(pool)) {
      const c = g.counts;
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
          firsts.push(g.offset + runStart * SLOT);
          counts.push(len - m + 1);
          total += len - m + 1;
        }
      }
    }
    return { size, firsts, counts, total, freeIds, largestFreeRun: largest };
  }
}
