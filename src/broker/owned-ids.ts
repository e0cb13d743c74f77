/**
 * The ids a peer owns, per side: its own uid (gid), the subordinate ranges
 * /etc/subuid (/etc/subgid) give it, and the ranges the broker allocated
 * for it in the registry. Every map the broker writes or mounts for a peer
 * is checked against these. Half-open intervals, merged. Pure.
 */
export type Interval = readonly [number, number];

export interface OwnedSide {
  /** The peer's own uid (gid): newuidmap lets it be mapped alone, with count 1. */
  readonly own: number;
  readonly subordinate: readonly Interval[];
  readonly allocated: readonly Interval[];
}

export interface OwnedIds {
  readonly uid: OwnedSide;
  readonly gid: OwnedSide;
}

export type IdKind = 'uid' | 'gid';

/** Sorted, non-overlapping, adjacent runs joined. */
export function mergeIntervals(list: readonly Interval[]): Interval[] {
  const sorted = list.filter(([s, e]) => e > s).map(([s, e]) => [s, e] as [number, number]).sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/** The first id of [start, end) not in the merged list, or null when all are. */
export function firstUncovered(merged: readonly Interval[], start: number, end: number): number | null {
  let at = start;
  for (const [s, e] of merged) {
    if (e <= at) continue;
    if (s > at) return at;
    at = e;
    if (at >= end) return null;
  }
  return at < end ? at : null;
}

/** Everything the side owns, own id included. */
export function allOwned(side: OwnedSide): Interval[] {
  return mergeIntervals([[side.own, side.own + 1], ...side.subordinate, ...side.allocated]);
}

/** Ranges that count as delegated (subordinate or allocated), without the own id. */
export function delegated(side: OwnedSide): Interval[] {
  return mergeIntervals([...side.subordinate, ...side.allocated]);
}

export function showIntervals(list: readonly Interval[]): string {
  if (list.length === 0) return 'none';
  return list.map(([s, e]) => (e - s === 1 ? `${s}` : `${s}–${e - 1}`)).join(', ');
}

/** For answers: [[start, count], …]. */
export function describeOwned(side: OwnedSide): { own: number; subordinate: [number, number][]; allocated: [number, number][] } {
  const pairs = (l: readonly Interval[]) => l.map(([s, e]) => [s, e - s] as [number, number]);
  return { own: side.own, subordinate: pairs(side.subordinate), allocated: pairs(side.allocated) };
}
