import { firstUncovered, mergeIntervals as mergeSpans } from '../policy/index.js';

/**
 * The ids a peer owns, per side: its own uid (gid), the subordinate ranges
 * /etc/subuid (/etc/subgid) give it, and the ranges the broker allocated
 * for it in the registry. Half-open intervals, merged. Pure.
 */
export type Interval = readonly [number, number];

export interface OwnedSide {
  /** The peer's own uid (gid). */
  readonly own: number;
  readonly subordinate: readonly Interval[];
  readonly allocated: readonly Interval[];
}

export interface OwnedIds {
  readonly uid: OwnedSide;
  readonly gid: OwnedSide;
}

export function mergeIntervals(list: readonly Interval[]): Interval[] {
  return mergeSpans(list.map(([s, e]) => [s, e] as [number, number]));
}

/** Everything the side owns, own id included. */
export function allOwned(side: OwnedSide): Interval[] {
  return mergeIntervals([[side.own, side.own + 1], ...side.subordinate, ...side.allocated]);
}

export function owns(merged: readonly Interval[], id: number): boolean {
  return firstUncovered(merged, id, id + 1) === undefined;
}

/** For answers: [[start, count], …]. */
export function describeOwned(side: OwnedSide): { own: number; subordinate: [number, number][]; allocated: [number, number][] } {
  const pairs = (l: readonly Interval[]) => l.map(([s, e]) => [s, e - s] as [number, number]);
  return { own: side.own, subordinate: pairs(side.subordinate), allocated: pairs(side.allocated) };
}
