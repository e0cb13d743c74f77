import { IntervalSet, type Range } from './interval-set.js';

/**
 * Host ids no allocation may cover, and what each is for. The table is
 * systemd's docs/UIDS-GIDS.md (shared/docs/prior-art.md §3), which is what
 * the other consumers of these ids on a Linux host follow. Half-open ranges.
 */
export interface ReservedRange extends Range {
  readonly purpose: string;
}

export const RESERVED_RANGES: readonly ReservedRange[] = Object.freeze(
  [
    { start: 0, end: 1, purpose: 'root' },
    { start: 1, end: 1000, purpose: 'system users and groups (SYS_UID_MAX 999)' },
    { start: 1000, end: 60001, purpose: 'regular users and groups (UID_MIN 1000 – UID_MAX 60000)' },
    { start: 60001, end: 60514, purpose: 'systemd-homed users' },
    { start: 60514, end: 60578, purpose: 'host users mapped into systemd-nspawn containers' },
    { start: 60578, end: 61184, purpose: 'unused part of the 16-bit id space (systemd)' },
    { start: 61184, end: 65520, purpose: 'systemd DynamicUser= ids' },
    { start: 65520, end: 65534, purpose: 'unused part of the 16-bit id space (systemd)' },
    { start: 65534, end: 65535, purpose: "nobody / nogroup: the kernel's overflow id" },
    { start: 65535, end: 65536, purpose: '16-bit (uid_t)-1, invalid for old 16-bit calls' },
    { start: 0x7ffe0000, end: 0x7fff0000, purpose: 'systemd foreign UID range (unshifted container images on disk)' },
    { start: 0x7fff0000, end: 0x80000000, purpose: 'unused, reserved by systemd' },
    { start: 0x80000000, end: 0xffffffff, purpose: 'ids >= 2^31, avoided: devpts gid= and some APIs treat them as negative' },
    { start: 0xffffffff, end: 0x100000000, purpose: "(uid_t)-1: the kernel's invalid id" },
  ].map((r) => Object.freeze(r)),
);

/** Every reserved id as one set (adjacent entries merge into [0,65536) and [0x7ffe0000, 2^32)). */
export function reservedSet(): IntervalSet {
  return IntervalSet.of(RESERVED_RANGES);
}

/** The reserved range holding id, if any. */
export function reservedRangeOf(id: number): ReservedRange | undefined {
  return RESERVED_RANGES.find((r) => r.start <= id && id < r.end);
}
