import { FsidmapError } from '../errors.js';
import { type Extent, MAX_EXTENTS, showRange } from './extent.js';
import { IdMap, uncovered } from './idmap.js';

/**
 * Maps as finite partial bijections on u32, i.e. sets of pairs (upper, lower).
 * Every operation returns a normalized map (sorted by first, adjacent runs
 * merged), so two maps are equal as functions exactly when their results
 * are `equals`.
 */

/** Sorted by first, adjacent extents that continue each other merged. Idempotent. */
export function normalize(map: IdMap | readonly Extent[]): IdMap {
  return IdMap.from(normalizeExtents(extentsOf(map)));
}

/** x → b(a(x)): a's lower column feeds b's upper column. Ids a maps outside b's domain drop out. */
export function compose(a: IdMap, b: IdMap): IdMap {
  const bs = sortedBy(b.extents, 'upper');
  const out: Extent[] = [];
  for (const ea of a.extents) {
    clip(bs, 'upper', ea.lower, ea.lower + ea.count, (eb, s, t) => {
      out.push({ first: ea.first + (s - ea.lower), lower: eb.lower + (s - eb.first), count: t - s });
    });
  }
  return normalize(out);
}

/** The inverse bijection: columns swapped. invert(invert(a)) equals normalize(a). */
export function invert(a: IdMap): IdMap {
  return normalize(a.extents.map((e) => ({ first: e.lower, lower: e.first, count: e.count })));
}

/** Pairs present in both maps. */
export function intersect(a: IdMap, b: IdMap): IdMap {
  const bs = sortedBy(b.extents, 'upper');
  const out: Extent[] = [];
  for (const ea of a.extents) {
    clip(bs, 'upper', ea.first, ea.first + ea.count, (eb, s, t) => {
      if (eb.lower - eb.first === ea.lower - ea.first) out.push({ first: s, lower: ea.lower + (s - ea.first), count: t - s });
    });
  }
  return normalize(out);
}

/** Pairs of a that b does not have. */
export function subtract(a: IdMap, b: IdMap): IdMap {
  const common = sortedBy(intersect(a, b).extents, 'upper');
  const out: Extent[] = [];
  for (const ea of a.extents) {
    let at = ea.first;
    const end = ea.first + ea.count;
    clip(common, 'upper', ea.first, end, (_e, s, t) => {
      if (s > at) out.push({ first: at, lower: ea.lower + (at - ea.first), count: s - at });
      at = t;
    });
    if (at < end) out.push({ first: at, lower: ea.lower + (at - ea.first), count: end - at });
  }
  return normalize(out);
}

/**
 * Pairs of either map. The result must still be a bijection: an id that the
 * two maps send to different places (or two ids sent to one) is a conflict,
 * ERR_IDMAP_CONFLICT, naming both ranges.
 */
export function union(a: IdMap, b: IdMap): IdMap {
  const pieces = [...a.extents, ...subtract(b, a).extents];
  try {
    return normalize(pieces);
  } catch (e) {
    if (e instanceof FsidmapError && e.code === 'ERR_IDMAP_OVERLAP') {
      throw new FsidmapError(
        'ERR_IDMAP_CONFLICT',
        `the maps disagree: ${e.message.replace(/^extents \d+ and \d+ overlap/, 'two ranges overlap')}`,
        {
          cause: e,
          hint: 'a union must stay one-to-one: each id may be mapped once, to one id',
        },
      );
    }
    throw e;
  }
}

/** The part of the map whose ids in the given column fall in [start, end). */
export function restrict(a: IdMap, start: number, end: number, side: 'upper' | 'lower' = 'upper'): IdMap {
  const out: Extent[] = [];
  for (const e of a.extents) {
    const s0 = side === 'upper' ? e.first : e.lower;
    const s = Math.max(s0, start),
      t = Math.min(s0 + e.count, end);
    if (s < t) out.push({ first: e.first + (s - s0), lower: e.lower + (s - s0), count: t - s });
  }
  return normalize(out);
}

/** The identity map on [start, end). */
export function identityOn(start: number, end: number): IdMap {
  return end > start ? IdMap.from([{ first: start, lower: start, count: end - start }]) : IdMap.empty();
}

export interface MountMapOptions {
  /** Accept fsid-mapped ids that the id map leaves unmapped (they become unreachable through the mount). */
  readonly allowUnmapped?: boolean;
}

/**
 * The idmapped-mount map that realizes an fsid mapping (kernel-semantics.md
 * §6): M(d) = idmap(fsidmap⁻¹(d)) for each on-disk id d. Mount maps put the
 * on-disk id in the first column and the kernel id the caller sees in the
 * lower one (make_vfsuid), so M = compose(invert(fsidmap), idmap), split
 * wherever the two maps' extents do not line up.
 *
 * Refuses (ERR_MOUNTMAP_UNMAPPED) when ids the fsid map gives the container
 * have no place in its id map — files owned by them would be unreachable —
 * and (ERR_MOUNTMAP_TOO_MANY_EXTENTS) when M needs more than 340 lines.
 */
export function mountMap(idmap: IdMap, fsidmap: IdMap, options: MountMapOptions = {}): IdMap {
  const m = compose(invert(fsidmap), idmap);
  if (!options.allowUnmapped) {
    const missing: Array<[number, number]> = [];
    for (const e of normalize(fsidmap).extents) missing.push(...uncovered(idmap, e.first, e.first + e.count, 'upper'));
    if (missing.length > 0) {
      const shown = missing
        .slice(0, 5)
        .map(([s, t]) => showRange(s, t))
        .join(', ');
      throw new FsidmapError(
        'ERR_MOUNTMAP_UNMAPPED',
        `the fsid map gives the namespace ids ${shown}${missing.length > 5 ? ', …' : ''} that its id map does not map, so files owned by them would be unreachable`,
        {
          context: { unmapped: missing },
          hint: "extend the id map to cover every id of the fsid map's first column, or restrict the fsid map to ids the id map has",
        },
      );
    }
  }
  if (m.size > MAX_EXTENTS) {
    throw new FsidmapError(
      'ERR_MOUNTMAP_TOO_MANY_EXTENTS',
      `the mount map needs ${m.size} lines because the id map's and fsid map's ranges do not line up; the kernel accepts at most ${MAX_EXTENTS}`,
      {
        context: { extents: m.size },
        hint: "align the two maps' ranges (same inside boundaries) so their pieces merge",
      },
    );
  }
  return m;
}

function extentsOf(map: IdMap | readonly Extent[]): readonly Extent[] {
  return map instanceof IdMap ? map.extents : map;
}

function normalizeExtents(extents: readonly Extent[]): Extent[] {
  const sorted = sortedBy(extents, 'upper');
  const out: Extent[] = [];
  for (const e of sorted) {
    const last = out[out.length - 1];
    if (last && last.first + last.count === e.first && last.lower + last.count === e.lower) {
      out[out.length - 1] = { first: last.first, lower: last.lower, count: last.count + e.count };
    } else {
      out.push({ first: e.first, lower: e.lower, count: e.count });
    }
  }
  return out;
}

function sortedBy(extents: readonly Extent[], side: 'upper' | 'lower'): Extent[] {
  return side === 'upper' ? [...extents].sort((x, y) => x.first - y.first) : [...extents].sort((x, y) => x.lower - y.lower);
}

/**
 * Calls visit(e, s, t) for each extent of `sorted` (sorted by the given
 * column, non-overlapping) whose range in that column meets [start, end),
 * with [s, t) the common part, in increasing order.
 */
function clip(
  sorted: readonly Extent[],
  side: 'upper' | 'lower',
  start: number,
  end: number,
  visit: (e: Extent, s: number, t: number) => void,
): void {
  const key = (e: Extent) => (side === 'upper' ? e.first : e.lower);
  let lo = 0,
    hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key(sorted[mid]) + sorted[mid].count <= start) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < sorted.length; i++) {
    const e = sorted[i];
    const s0 = key(e);
    if (s0 >= end) break;
    const s = Math.max(s0, start),
      t = Math.min(s0 + e.count, end);
    if (s < t) visit(e, s, t);
  }
}
