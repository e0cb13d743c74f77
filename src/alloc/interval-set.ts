/**
 * A set of host ids kept as sorted, disjoint, non-adjacent half-open
 * intervals [start, end). The allocator's whole view of "what is taken" is
 * one of these, so it stays small (one entry per run of taken ids, not one
 * per id) and answers overlap questions in O(log n).
 *
 * Mutable on purpose: the registry keeps one per scope in a cache and adds or
 * removes a range per allocation instead of rebuilding it.
 */
export interface Range {
  readonly start: number;
  readonly end: number;
}

export class IntervalSet {
  // Parallel arrays: fewer objects, and binary search touches only numbers.
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  static of(ranges: Iterable<Range>): IntervalSet {
    const sorted = [...ranges].filter((r) => r.end > r.start).sort((a, b) => a.start - b.start);
    const set = new IntervalSet();
    for (const r of sorted) {
      const n = set.starts.length;
      if (n > 0 && r.start <= set.ends[n - 1]) set.ends[n - 1] = Math.max(set.ends[n - 1], r.end);
      else {
        set.starts.push(r.start);
        set.ends.push(r.end);
      }
    }
    return set;
  }

  /** Number of intervals (not ids). */
  get length(): number {
    return this.starts.length;
  }

  /** Number of ids in the set. */
  get size(): number {
    let n = 0;
    for (let i = 0; i < this.starts.length; i++) n += this.ends[i] - this.starts[i];
    return n;
  }

  startAt(i: number): number {
    return this.starts[i];
  }

  endAt(i: number): number {
    return this.ends[i];
  }

  *[Symbol.iterator](): IterableIterator<Range> {
    for (let i = 0; i < this.starts.length; i++) yield { start: this.starts[i], end: this.ends[i] };
  }

  clone(): IntervalSet {
    const c = new IntervalSet();
    c.starts.push(...this.starts);
    c.ends.push(...this.ends);
    return c;
  }

  /** Index of the first interval whose end is > id (the only one that can contain or follow id). */
  firstEndingAfter(id: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid] > id) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  contains(id: number): boolean {
    const i = this.firstEndingAfter(id);
    return i < this.starts.length && this.starts[i] <= id;
  }

  /** True when [start, end) shares at least one id with the set. */
  overlaps(start: number, end: number): boolean {
    if (end <= start) return false;
    const i = this.firstEndingAfter(start);
    return i < this.starts.length && this.starts[i] < end;
  }

  /** Adds [start, end), merging with neighbours it overlaps or touches. */
  add(start: number, end: number): void {
    if (end <= start) return;
    // First interval that could merge: its end >= start (touching counts).
    const i = this.firstEndingAfter(start - 1);
    let j = i;
    let s = start;
    let e = end;
    while (j < this.starts.length && this.starts[j] <= end) {
      s = Math.min(s, this.starts[j]);
      e = Math.max(e, this.ends[j]);
      j++;
    }
    this.starts.splice(i, j - i, s);
    this.ends.splice(i, j - i, e);
  }

  /** Removes [start, end), splitting an interval that sticks out on either side. */
  remove(start: number, end: number): void {
    if (end <= start) return;
    const i = this.firstEndingAfter(start);
    let j = i;
    const keepS: number[] = [];
    const keepE: number[] = [];
    while (j < this.starts.length && this.starts[j] < end) {
      if (this.starts[j] < start) {
        keepS.push(this.starts[j]);
        keepE.push(start);
      }
      if (this.ends[j] > end) {
        keepS.push(end);
        keepE.push(this.ends[j]);
      }
      j++;
    }
    this.starts.splice(i, j - i, ...keepS);
    this.ends.splice(i, j - i, ...keepE);
  }

  /** A new set holding the ids of both. Linear merge of the two sorted lists. */
  union(other: IntervalSet): IntervalSet {
    const out = new IntervalSet();
    let a = 0;
    let b = 0;
    const push = (s: number, e: number): void => {
      const n = out.starts.length;
      if (n > 0 && s <= out.ends[n - 1]) {
        if (e > out.ends[n - 1]) out.ends[n - 1] = e;
      } else {
        out.starts.push(s);
        out.ends.push(e);
      }
    };
    while (a < this.starts.length || b < other.starts.length) {
      if (b >= other.starts.length || (a < this.starts.length && this.starts[a] <= other.starts[b])) {
        push(this.starts[a], this.ends[a]);
        a++;
      } else {
        push(other.starts[b], other.ends[b]);
        b++;
      }
    }
    return out;
  }

  /** The parts of [start, end) not in the set, in order. */
  *gapsWithin(start: number, end: number): IterableIterator<Range> {
    let cursor = start;
    for (let i = this.firstEndingAfter(start); i < this.starts.length && this.starts[i] < end; i++) {
      if (this.starts[i] > cursor) yield { start: cursor, end: this.starts[i] };
      cursor = Math.max(cursor, this.ends[i]);
    }
    if (cursor < end) yield { start: cursor, end };
  }
}
