import { FsidmapError } from '../errors.js';
import { type Extent, INVALID_ID, MAX_BASE_EXTENTS, MAX_EXTENTS, OVERFLOW_ID, isValidExtent, rangesOverlap, showRange } from './extent.js';

/**
 * An installed id map, as struct uid_gid_map holds it: up to 5 extents kept
 * in written order and scanned linearly; more are sorted twice (`forward` by
 * first, `reverse` by lower) and binary-searched (kernel/user_namespace.c
 * sort_idmaps, map_id_range_down_max, map_id_up_max).
 *
 * Whether `lower` holds parent-relative or kernel ids is the caller's
 * business: map_write composes through the parent before installing, and
 * checkMapWrite returns both forms.
 *
 * Unlike the kernel, an IdMap may hold more than 340 extents, so that the
 * algebra is total; `assertKernelSize` is the check before a write.
 */
export class IdMap {
  /** Extents in the order the kernel keeps (and prints) them. */
  readonly extents: readonly Extent[];
  private readonly fwdFirst: Float64Array;
  private readonly fwdLower: Float64Array;
  private readonly fwdCount: Float64Array;
  private readonly revFirst: Float64Array;
  private readonly revLower: Float64Array;
  private readonly revCount: Float64Array;

  private constructor(extents: readonly Extent[]) {
    const installed = extents.length > MAX_BASE_EXTENTS ? [...extents].sort((a, b) => a.first - b.first) : [...extents];
    this.extents = Object.freeze(installed.map((e) => Object.freeze({ first: e.first, lower: e.lower, count: e.count })));
    const n = installed.length;
    this.fwdFirst = new Float64Array(n);
    this.fwdLower = new Float64Array(n);
    this.fwdCount = new Float64Array(n);
    installed.forEach((e, i) => {
      this.fwdFirst[i] = e.first;
      this.fwdLower[i] = e.lower;
      this.fwdCount[i] = e.count;
    });
    const reverse = n > MAX_BASE_EXTENTS ? [...installed].sort((a, b) => a.lower - b.lower) : installed;
    this.revFirst = new Float64Array(n);
    this.revLower = new Float64Array(n);
    this.revCount = new Float64Array(n);
    reverse.forEach((e, i) => {
      this.revFirst[i] = e.first;
      this.revLower[i] = e.lower;
      this.revCount[i] = e.count;
    });
  }

  /**
   * Builds a map from extents that are already known to be a valid partial
   * bijection (no -1, no wrap, no overlap in either column). Throws
   * ERR_IDMAP_INVALID naming the offending extent otherwise: this is the
   * boundary where plain data becomes a trusted map.
   */
  static from(extents: readonly Extent[]): IdMap {
    extents.forEach((e, i) => {
      if (!isValidExtent(e)) {
        throw new FsidmapError(
          'ERR_IDMAP_INVALID',
          `extent ${i + 1} (${e.first} ${e.lower} ${e.count}) is not a valid kernel extent: ids must be u32 other than 4294967295, count at least 1, and neither range may wrap past 4294967294`,
          { context: { extent: i + 1 } },
        );
      }
    });
    const overlap = findOverlap(extents);
    if (overlap) {
      const [i, j, side] = overlap;
      const a = extents[i],
        b = extents[j];
      const [as, bs] = side === 'upper' ? [a.first, b.first] : [a.lower, b.lower];
      throw new FsidmapError(
        'ERR_IDMAP_OVERLAP',
        `extents ${i + 1} and ${j + 1} overlap in the ${side} column (${showRange(as, as + a.count)} and ${showRange(bs, bs + b.count)})`,
        { context: { extents: [i + 1, j + 1], side } },
      );
    }
    return new IdMap(extents);
  }

  /** The initial user namespace's map, `0 0 4294967295`. */
  static identity(): IdMap {
    return IDENTITY;
  }

  static empty(): IdMap {
    return EMPTY;
  }

  get size(): number {
    return this.extents.length;
  }

  get isEmpty(): boolean {
    return this.extents.length === 0;
  }

  /** Total number of ids mapped. */
  get idCount(): number {
    let total = 0;
    for (const e of this.extents) total += e.count;
    return total;
  }

  assertKernelSize(): this {
    if (this.extents.length > MAX_EXTENTS) {
      throw new FsidmapError(
        'ERR_IDMAP_TOO_MANY_EXTENTS',
        `the map has ${this.extents.length} extents; the kernel accepts at most ${MAX_EXTENTS} lines`,
        {
          context: { extents: this.extents.length },
          hint: 'merge adjacent ranges (fsidmap map show normalizes) or map fewer, larger ranges',
        },
      );
    }
    return this;
  }

  /**
   * map_id_range_down: the extent whose upper range holds all of
   * [id, id + count - 1] → its lower id, else undefined. The arithmetic is u32
   * like the kernel's, including its wrap of `id + count - 1`.
   */
  mapIdRangeDown(id: number, count: number): number | undefined {
    const n = this.fwdFirst.length;
    const id2 = (id + count - 1) >>> 0;
    if (n <= MAX_BASE_EXTENTS) {
      for (let i = 0; i < n; i++) {
        const first = this.fwdFirst[i],
          last = first + this.fwdCount[i] - 1;
        if (id >= first && id <= last && id2 >= first && id2 <= last) return id - first + this.fwdLower[i];
      }
      return undefined;
    }
    const i = bsearch(this.fwdFirst, this.fwdCount, id, id2);
    return i < 0 ? undefined : id - this.fwdFirst[i] + this.fwdLower[i];
  }

  /** map_id_down (make_kuid): one id from the upper column to the lower one. */
  mapIdDown(id: number): number | undefined {
    return this.mapIdRangeDown(id, 1);
  }

  /** map_id_up (from_kuid): one id from the lower column back to the upper one. */
  mapIdUp(id: number): number | undefined {
    const n = this.revLower.length;
    if (n <= MAX_BASE_EXTENTS) {
      for (let i = 0; i < n; i++) {
        const lower = this.revLower[i];
        if (id >= lower && id <= lower + this.revCount[i] - 1) return id - lower + this.revFirst[i];
      }
      return undefined;
    }
    const i = bsearch(this.revLower, this.revCount, id, id);
    return i < 0 ? undefined : id - this.revLower[i] + this.revFirst[i];
  }

  /** from_kuid_munged: never fails; an unmapped id reads as the overflow id, as stat shows it. */
  mapIdUpMunged(id: number, overflowId = OVERFLOW_ID): number {
    return this.mapIdUp(id) ?? overflowId;
  }

  /** The map_id_down twin of mapIdUpMunged, for symmetry in callers that print. */
  mapIdDownMunged(id: number, overflowId = OVERFLOW_ID): number {
    return this.mapIdDown(id) ?? overflowId;
  }

  /** True when every id of [start, end) in the given column is mapped (by one or more extents). */
  covers(start: number, end: number, side: 'upper' | 'lower' = 'upper'): boolean {
    return uncovered(this, start, end, side).length === 0;
  }

  equals(other: IdMap): boolean {
    if (other.extents.length !== this.extents.length) return false;
    return this.extents.every(
      (e, i) => e.first === other.extents[i].first && e.lower === other.extents[i].lower && e.count === other.extents[i].count,
    );
  }

  toString(): string {
    return this.extents.map((e) => `${e.first} ${e.lower} ${e.count}`).join('\n');
  }
}

/**
 * cmp_map_id + bsearch over one sorted column: returns the index whose range
 * holds both key ids, or -1. Extents never overlap, so this agrees with the
 * linear scan.
 */
function bsearch(starts: Float64Array, counts: Float64Array, id: number, id2: number): number {
  let lo = 0,
    hi = starts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const first = starts[mid],
      last = first + counts[mid] - 1;
    if (id >= first && id <= last && id2 >= first && id2 <= last) return mid;
    if (id < first || id2 < first) hi = mid - 1;
    else lo = mid + 1;
  }
  return -1;
}

/** The sub-ranges of [start, end) in the given column that no extent maps, sorted. */
export function uncovered(map: IdMap, start: number, end: number, side: 'upper' | 'lower'): Array<[number, number]> {
  const spans = map.extents
    .map((e) => (side === 'upper' ? [e.first, e.first + e.count] : [e.lower, e.lower + e.count]) as [number, number])
    .filter(([s, t]) => rangesOverlap(s, t, start, end))
    .sort((a, b) => a[0] - b[0]);
  const gaps: Array<[number, number]> = [];
  let at = start;
  for (const [s, t] of spans) {
    if (s > at) gaps.push([at, Math.min(s, end)]);
    at = Math.max(at, t);
    if (at >= end) break;
  }
  if (at < end) gaps.push([at, end]);
  return gaps;
}

/** First pair of extents that overlap in either column, or undefined. O(n log n). */
function findOverlap(extents: readonly Extent[]): [number, number, 'upper' | 'lower'] | undefined {
  for (const side of ['upper', 'lower'] as const) {
    const order = extents.map((_, i) => i).sort((a, b) => start(extents[a], side) - start(extents[b], side));
    for (let k = 1; k < order.length; k++) {
      const prev = extents[order[k - 1]],
        cur = extents[order[k]];
      if (start(prev, side) + prev.count > start(cur, side)) {
        const [i, j] = [order[k - 1], order[k]].sort((a, b) => a - b);
        return [i, j, side];
      }
    }
  }
  return undefined;
}

function start(e: Extent, side: 'upper' | 'lower'): number {
  return side === 'upper' ? e.first : e.lower;
}

const IDENTITY = IdMap.from([{ first: 0, lower: 0, count: 4294967295 }]);
const EMPTY = IdMap.from([]);

export { INVALID_ID };
