/**
 * One line of a kernel id map: `first lower count` (struct uid_gid_extent).
 * `first` is the id inside the namespace (upper column), `lower` the id it
 * stands for one level out (lower column). Inside fsidmap ranges are always
 * half-open: an extent covers [first, first + count) and [lower, lower + count).
 */
export interface Extent {
  readonly first: number;
  readonly lower: number;
  readonly count: number;
}

/** 2^32: the size of the kernel's id space (ids are u32). */
export const ID_SPACE = 4294967296;
/** (u32)-1: the kernel's INVALID_UID / "no mapping". Never a valid id in a map. */
export const INVALID_ID = 4294967295;
/** include/linux/highuid.h DEFAULT_OVERFLOWUID/GID: what stat shows for an unmapped owner. */
export const OVERFLOW_ID = 65534;
/** UID_GID_MAP_MAX_EXTENTS since Linux 4.15. */
export const MAX_EXTENTS = 340;
/** UID_GID_MAP_MAX_BASE_EXTENTS: up to this many extents the kernel scans inline, in written order. */
export const MAX_BASE_EXTENTS = 5;
/** map_write refuses writes of PAGE_SIZE bytes or more (4 KiB pages on x86_64). */
export const PAGE_SIZE = 4096;
/** The initial namespace's maps: `0 0 4294967295`. */
export const IDENTITY_EXTENT: Extent = Object.freeze({ first: 0, lower: 0, count: 4294967295 });

export type MapKind = 'uid' | 'gid' | 'fsuid' | 'fsgid';
export type Side = 'upper' | 'lower';

export function extent(first: number, lower: number, count: number): Extent {
  return { first, lower, count };
}

export function upperEnd(e: Extent): number {
  return e.first + e.count;
}

export function lowerEnd(e: Extent): number {
  return e.lower + e.count;
}

/** Half-open interval overlap, the question mappings_overlap asks of each column. */
export function rangesOverlap(aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
  return aStart < bEnd && bStart < aEnd;
}

export function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n < ID_SPACE;
}

/** True when the extent is one the kernel could hold: no -1, no zero count, no wrap on either side. */
export function isValidExtent(e: Extent): boolean {
  return (
    isU32(e.first) &&
    isU32(e.lower) &&
    isU32(e.count) &&
    e.first !== INVALID_ID &&
    e.lower !== INVALID_ID &&
    e.count > 0 &&
    e.first + e.count < ID_SPACE &&
    e.lower + e.count < ID_SPACE
  );
}

/**
 * Ids [start, end) for messages as shadow-utils and util-linux users read
 * them: FIRST–LAST, both included ("100000–165535"), one id alone as itself.
 * (The code keeps the half-open convention; START:COUNT is for map fields.)
 */
export function showRange(start: number, end: number): string {
  return end - start === 1 ? `${start}` : `${start}–${end - 1}`;
}
