import { INVALID_ID, type Extent } from './extent.js';
import type { IdMap } from './idmap.js';

/**
 * Translates large arrays of ids through one map, for code that shifts whole
 * trees and archives. The kernel's binary search costs ~log2(340) dependent
 * loads per id; here the u32 space is cut into 65536 buckets of 65536 ids,
 * and a bucket that one extent (or one gap) covers completely stores that
 * extent's offset, so nearly every id costs one table load and an add.
 * Buckets cut by an extent boundary (at most two per extent) fall back to a
 * binary search over that bucket's few segments.
 *
 * Results agree with IdMap.mapIdDown / mapIdUp (a property test checks it);
 * unmapped ids come out as 4294967295, the kernel's (u32)-1.
 */
export type Direction = 'down' | 'up';

const BUCKET_BITS = 16;
const BUCKETS = 1 << (32 - BUCKET_BITS);
/** Marks a bucket that needs the segment search; no real offset can be this large. */
const MIXED = 2 ** 40;

export class BulkTranslator {
  /** Per bucket: the offset to add, NaN when the whole bucket is unmapped, MIXED when it must search. */
  private readonly bucketOffset: Float64Array;
  /** All segments (mapped extents and the gaps between them) sorted by start, covering [0, 2^32). */
  private readonly segStart: Float64Array;
  private readonly segOffset: Float64Array;
  /** Per bucket: index of the first segment that meets it (for MIXED buckets). */
  private readonly bucketFirstSeg: Int32Array;
  /** The commonest map has one line: then a range check beats any table. */
  private readonly single: { lo: number; hi: number; off: number } | undefined;

  constructor(
    map: IdMap,
    readonly direction: Direction = 'down',
  ) {
    const spans = map.extents
      .map((e: Extent) => (direction === 'down' ? [e.first, e.count, e.lower - e.first] : [e.lower, e.count, e.first - e.lower]))
      .sort((x, y) => x[0] - y[0]);
    const starts: number[] = [];
    const offsets: number[] = [];
    let at = 0;
    for (const [s, n, off] of spans) {
      if (s > at) {
        starts.push(at);
        offsets.push(NaN);
      }
      starts.push(s);
      offsets.push(off);
      at = s + n;
    }
    if (at < 2 ** 32) {
      starts.push(at);
      offsets.push(NaN);
    }
    this.single = spans.length === 1 ? { lo: spans[0][0], hi: spans[0][0] + spans[0][1], off: spans[0][2] } : undefined;
    this.segStart = Float64Array.from(starts);
    this.segOffset = Float64Array.from(offsets);
    this.bucketOffset = new Float64Array(BUCKETS);
    this.bucketFirstSeg = new Int32Array(BUCKETS);
    let seg = 0;
    for (let b = 0; b < BUCKETS; b++) {
      const lo = b * 65536,
        hi = lo + 65536;
      while (seg + 1 < starts.length && starts[seg + 1] <= lo) seg++;
      this.bucketFirstSeg[b] = seg;
      const segEnd = seg + 1 < starts.length ? starts[seg + 1] : 2 ** 32;
      this.bucketOffset[b] = segEnd >= hi ? offsets[seg] : MIXED;
    }
  }

  /** One id; undefined when unmapped. */
  translate(id: number): number | undefined {
    const r = this.lookup(id >>> 0);
    return r === INVALID_ID ? undefined : r;
  }

  /**
   * Translates input into output (same length; may be the same array).
   * Unmapped ids become 4294967295. Returns how many were unmapped.
   */
  translateArray(input: Uint32Array, output: Uint32Array = input): number {
    if (output.length < input.length) throw new RangeError('output is shorter than input');
    let unmapped = 0;
    if (this.single) {
      const { lo, hi, off } = this.single;
      for (let i = 0, n = input.length; i < n; i++) {
        const id = input[i];
        if (id >= lo && id < hi) output[i] = id + off;
        else {
          output[i] = INVALID_ID;
          unmapped++;
        }
      }
      return unmapped;
    }
    const table = this.bucketOffset;
    for (let i = 0, n = input.length; i < n; i++) {
      const id = input[i];
      let off = table[id >>> BUCKET_BITS];
      if (off === MIXED) off = this.searchOffset(id);
      const v = id + off;
      // NaN (unmapped) fails the comparison.
      if (v >= 0) output[i] = v;
      else {
        output[i] = INVALID_ID;
        unmapped++;
      }
    }
    return unmapped;
  }

  private lookup(id: number): number {
    let off = this.bucketOffset[id >>> BUCKET_BITS];
    if (off === MIXED) off = this.searchOffset(id);
    const v = id + off;
    return v >= 0 ? v : INVALID_ID;
  }

  private searchOffset(id: number): number {
    const starts = this.segStart;
    let lo = this.bucketFirstSeg[id >>> BUCKET_BITS],
      hi = starts.length - 1;
    // Last segment whose start is <= id.
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid] <= id) lo = mid;
      else hi = mid - 1;
    }
    return this.segOffset[lo];
  }
}

/** Convenience: translate an array once. Build a BulkTranslator yourself to reuse the table. */
export function translateIds(
  map: IdMap,
  input: Uint32Array,
  direction: Direction = 'down',
  output?: Uint32Array,
): { output: Uint32Array; unmapped: number } {
  const out = output ?? new Uint32Array(input.length);
  const unmapped = new BulkTranslator(map, direction).translateArray(input, out);
  return { output: out, unmapped };
}
