import { FsidmapError } from '../errors.js';
import { IntervalSet, type Range } from './interval-set.js';

/**
 * Allocations are handed out in slots of 65536 ids aligned to 65536, as
 * systemd's UIDS-GIDS.md recommends: the low 16 bits of a host id are then
 * the id inside the container, and an interrupted chown can be resumed.
 */
export const SLOT = 65536;
/** 2^32: one past the highest u32 id. */
export const ID_LIMIT = 4294967296;

/**
 * Where ranges come from: one or more half-open host-id ranges. A pool given
 * as START:COUNT has one; a pool taken from a user's /etc/subuid lines may
 * have several. `label` says where it came from, for messages.
 */
export interface Pool {
  readonly ranges: readonly Range[];
  readonly label: string;
  /**
   * Slots start at each range's own start (START + k·65536) instead of at
   * multiples of 65536. A user's subordinate range (useradd gives
   * 100000:65536, 165536:65536, …) or a parent's range is the pool as it
   * is: an aligned grid would cut every such range in two.
   */
  readonly anchored?: boolean;
  /** What gives the pool more room, for refusals when it is full (default: a larger --pool). */
  readonly grow?: string;
}

/** systemd's container range, 0x00080000–0x6FFFFFFF (docs/UIDS-GIDS.md): the default pool. */
export const SYSTEMD_CONTAINER_RANGE: Range = Object.freeze({ start: 0x00080000, end: 0x70000000 });

export const DEFAULT_POOL: Pool = Object.freeze({
  ranges: Object.freeze([SYSTEMD_CONTAINER_RANGE]),
  label: 'systemd container range 524288:1878523904',
});

export function alignUp(id: number): number {
  return Math.ceil(id / SLOT) * SLOT;
}

export function alignDown(id: number): number {
  return Math.floor(id / SLOT) * SLOT;
}

/** Where the pool's slots of `r` lie: [lo, hi), both on the pool's grid (hi <= lo when no whole slot fits). */
export function slotBounds(pool: Pick<Pool, 'anchored'>, r: Range): Range {
  if (!pool.anchored) return { start: alignUp(r.start), end: alignDown(r.end) };
  return { start: r.start, end: r.start + Math.floor((r.end - r.start) / SLOT) * SLOT };
}

/** The grid of `r`'s slots as an id offset in [0, 65536): 0 for aligned pools. */
export function gridOffset(pool: Pick<Pool, 'anchored'>, r: Range): number {
  return pool.anchored ? r.start % SLOT : 0;
}

/** The first id >= `id` on the grid that starts at `origin`. */
export function gridUp(id: number, origin: number): number {
  return origin + Math.ceil((id - origin) / SLOT) * SLOT;
}

/** The last id <= `id` on the grid that starts at `origin`. */
export function gridDown(id: number, origin: number): number {
  return origin + Math.floor((id - origin) / SLOT) * SLOT;
}

function parseNumber(text: string, what: string, spec: string): number {
  const t = text.trim();
  const n = /^0x[0-9a-f]+$/i.test(t) ? Number.parseInt(t.slice(2), 16) : /^\d+$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(n)) {
    throw new FsidmapError('ERR_USAGE', `--pool "${spec}": ${what} "${text}" is not a number`, {
      hint: 'write the pool as START:COUNT in decimal or 0x-hex, e.g. 524288:1878523904',
      context: { spec },
    });
  }
  return n;
}

/** Parses `START:COUNT` (decimal or 0x-hex), the form of /etc/subuid's last two fields. */
export function parsePool(spec: string): Pool {
  const parts = spec.split(':');
  if (parts.length !== 2) {
    throw new FsidmapError('ERR_USAGE', `--pool "${spec}" is not START:COUNT`, {
      hint: "e.g. --pool 524288:1878523904 (systemd's container range)",
      context: { spec },
    });
  }
  const start = parseNumber(parts[0], 'START', spec);
  const count = parseNumber(parts[1], 'COUNT', spec);
  return poolOf([{ start, end: start + count }], `pool ${start}:${count}`);
}

/** Validates ranges into a pool: inside the u32 id space, non-empty, at least one whole slot (on the pool's grid). */
export function poolOf(ranges: readonly Range[], label: string, options: { anchored?: boolean; grow?: string } = {}): Pool {
  const anchored = options.anchored === true;
  const grow = options.grow !== undefined ? { grow: options.grow } : {};
  if (ranges.length === 0) {
    throw new FsidmapError('ERR_POOL_INVALID', `${label} is empty`, { context: { label } });
  }
  for (const r of ranges) {
    if (!Number.isSafeInteger(r.start) || !Number.isSafeInteger(r.end) || r.start < 0 || r.end <= r.start || r.end > ID_LIMIT) {
      throw new FsidmapError('ERR_POOL_INVALID', `${label}: range ${r.start}:${r.end - r.start} is not a non-empty range of u32 ids`, {
        hint: 'START + COUNT must not exceed 4294967296 and COUNT must be at least 65536',
        context: { label, start: r.start, end: r.end },
      });
    }
  }
  if (anchored) {
    // Overlapping lines merge first; each merged range's slots start at its own start.
    const merged = [...IntervalSet.of(ranges)];
    if (!merged.some((r) => r.end - r.start >= SLOT)) {
      throw new FsidmapError('ERR_POOL_INVALID', `${label} holds no range of 65536 ids`, {
        hint: 'ranges are handed out 65536 ids at a time; give it at least 65536 ids (e.g. usermod --add-subuids 100000-165535)',
        context: { label, ranges: ranges.map((r) => ({ start: r.start, count: r.end - r.start })) },
      });
    }
    return { ranges: merged, label, anchored, ...grow };
  }
  if (!ranges.some((r) => alignDown(r.end) - alignUp(r.start) >= SLOT)) {
    throw new FsidmapError('ERR_POOL_INVALID', `${label} holds no whole 65536-aligned slot of 65536 ids`, {
      hint:
        'ranges are handed out in slots [k*65536, (k+1)*65536); give the pool such a slot ' +
        "(useradd's default 100000:65536 has none; --pool-user USER takes a user's subordinate ranges as they are)",
      context: { label, ranges: ranges.map((r) => ({ start: r.start, count: r.end - r.start })) },
    });
  }
  // Overlapping or touching ranges (duplicate subuid lines) merge, so no slot is counted twice.
  return { ranges: [...IntervalSet.of(ranges)], label, ...grow };
}

/** Validates a requested size: a positive multiple of 65536 that fits in the id space. */
export function checkSize(size: number): number {
  if (!Number.isSafeInteger(size) || size <= 0 || size % SLOT !== 0 || size >= ID_LIMIT) {
    throw new FsidmapError('ERR_USAGE', `size ${size} is not a positive multiple of 65536 below 2^32`, {
      hint: 'use --size 65536 (the default), 131072, …',
      context: { size },
    });
  }
  return size;
}

export function samePools(a: Pool, b: Pool): boolean {
  return (
    (a.anchored === true) === (b.anchored === true) &&
    a.ranges.length === b.ranges.length &&
    a.ranges.every((r, i) => r.start === b.ranges[i].start && r.end === b.ranges[i].end)
  );
}
