import { int, pick, type Rng } from './map-cases.js';

/**
 * Random newuidmap/newgidmap argument lists for one user: mappings inside
 * the user's ranges (across adjacent entries too), just past them, in other
 * users' ranges, the own id with count 1 and 2, count 0, ids near
 * 4294967295, overlapping lines, hundreds of lines, and tokens spelled the
 * ways strtoul accepts or refuses (hex, octal, signs, blanks, junk).
 */

export interface RequestSpace {
  /** The user's merged owned intervals (half-open) and the boundaries between their entries. */
  readonly owned: ReadonlyArray<readonly [number, number]>;
  readonly boundaries: readonly number[];
  /** Their own uid (newuidmap) or real gid (newgidmap). */
  readonly ownId: number;
  /** Intervals other users own. */
  readonly foreign: ReadonlyArray<readonly [number, number]>;
}

type Triple = [number, number, number];

function mapping(r: Rng, s: RequestSpace, upper: number): Triple {
  const run = s.owned.length > 0 ? pick(r, s.owned) : ([100000, 100010] as const);
  const len = run[1] - run[0];
  const k = pick(r, [
    'inside',
    'inside',
    'inside',
    'whole',
    'boundary',
    'past-end',
    'before-start',
    'own',
    'own',
    'own-2',
    'own-before',
    'foreign',
    'random',
    'near-max',
    'zero',
    'upper-max',
  ]);
  switch (k) {
    case 'inside': {
      const lower = run[0] + int(r, 0, len - 1);
      return [upper, lower, int(r, 1, Math.min(run[1] - lower, pick(r, [1, 10, 1000, 1 << 20])))];
    }
    case 'whole':
      return [upper, run[0], len];
    case 'boundary': {
      const b = s.boundaries.length > 0 ? pick(r, s.boundaries) : run[0];
      const d = int(r, 1, 50);
      return [upper, Math.max(0, b - d), 2 * d];
    }
    case 'past-end': {
      const d = int(r, 1, 100);
      return [upper, run[1] - d, d + int(r, 1, 3)];
    }
    case 'before-start':
      return [upper, Math.max(0, run[0] - int(r, 1, 3)), int(r, 2, 100)];
    case 'own':
      return [upper, s.ownId, 1];
    case 'own-2':
      return [upper, s.ownId, 2];
    case 'own-before':
      return [upper, Math.max(0, s.ownId - 1), 2];
    case 'foreign': {
      const f = s.foreign.length > 0 ? pick(r, s.foreign) : ([300000, 300100] as const);
      const lower = f[0] + int(r, 0, Math.max(0, f[1] - f[0] - 1));
      return [upper, lower, int(r, 1, Math.max(1, Math.min(100, f[1] - lower)))];
    }
    case 'random':
      return [upper, int(r, 0, 4294967294), int(r, 1, 1000)];
    case 'near-max': {
      const d = int(r, 0, 3);
      return [upper, 4294967295 - d, int(r, 0, 4)];
    }
    case 'zero':
      return [upper, run[0], 0];
    default:
      return [4294967295 - int(r, 0, 2), run[0], int(r, 0, 3)];
  }
}

/** A spelling of v that getulong reads as v. */
function sameValue(r: Rng, v: number): string {
  const big = (1n << 64n) - BigInt(v);
  return pick(r, [
    `0x${v.toString(16)}`,
    `0X${v.toString(16).toUpperCase()}`,
    v === 0 ? '00' : `0${v.toString(8)}`,
    `+${v}`,
    ` ${v}`,
    `\t\n${v}`,
    v === 0 ? '-0' : `-${big}`,
  ]);
}

/** A spelling getulong refuses, or reads as something else. */
function junk(r: Rng, v: number): string {
  return pick(r, [
    `${v} `,
    '',
    'x',
    `${v}x`,
    '0x',
    '08',
    '1e3',
    '18446744073709551616',
    '-1',
    '4294967296',
    `${v}\n`,
    `- ${v}`,
    `0b1`,
    '٣',
  ]);
}

export interface Request {
  readonly label: string;
  readonly args: string[];
}

export function randomRequest(r: Rng, s: RequestSpace): Request {
  const shape = pick(r, [
    'one',
    'one',
    'carve',
    'carve',
    'carve',
    'carve',
    'few',
    'few',
    'many',
    'overlap-upper',
    'overlap-lower',
    'lines-340',
    'none',
    'odd-count',
  ]);
  let triples: Triple[] = [];
  let upper = pick(r, [0, 0, 1, 1000, int(r, 0, 1000000)]);
  const next = (t: Triple) => {
    triples.push(t);
    upper = t[0] + Math.max(t[2], 1);
  };
  if (shape === 'one') next(mapping(r, s, upper));
  else if (shape === 'few' || shape === 'odd-count') for (let i = int(r, 2, 5); i > 0; i--) next(mapping(r, s, upper));
  else if (shape === 'many') for (let i = int(r, 6, 40); i > 0; i--) next(mapping(r, s, upper));
  else if (shape === 'carve') {
    // Disjoint pieces of the owned ranges (and perhaps the own id): what a well-behaved runtime asks for.
    for (const [a, b] of s.owned) {
      let at = a;
      for (let k = int(r, 1, 3); k > 0 && at < b; k--) {
        const count = int(r, 1, Math.max(1, Math.min(b - at, pick(r, [1, 7, 500, 65536]))));
        next([upper, at, Math.min(count, b - at)]);
        at += count + int(r, 0, 5);
      }
      if (r() < 0.5) break;
    }
    if (r() < 0.3) next([upper, s.ownId, 1]);
  } else if (shape === 'overlap-upper' || shape === 'overlap-lower') {
    const a = mapping(r, s, upper);
    next(a);
    const b = mapping(r, s, upper);
    triples.push(
      shape === 'overlap-upper'
        ? [a[0] + int(r, 0, Math.max(0, a[2] - 1)), b[1], b[2]]
        : [b[0], a[1] + int(r, 0, Math.max(0, a[2] - 1)), Math.max(1, b[2])],
    );
  } else if (shape === 'lines-340') {
    // Count-1 lines over owned ids: more than a page with long numbers; 340 vs 341 lines with short ones.
    const n = pick(r, [339, 340, 341, 345]);
    const run = s.owned.find(([a, b]) => b - a >= n) ?? s.owned[0] ?? [100000, 100000 + n];
    triples = Array.from({ length: n }, (_, i): Triple => [i, run[0] + i, 1]);
  }
  let args = triples.flatMap((t) => t.map(String));
  let label = shape;
  if (shape === 'odd-count' && args.length > 0) {
    args = r() < 0.5 ? args.slice(0, args.length - int(r, 1, 2)) : [...args, String(int(r, 0, 9))];
  }
  if (args.length > 0 && r() < 0.15) {
    const i = int(r, 0, args.length - 1);
    const v = Number(args[i]);
    const bad = r() < 0.5;
    args[i] = bad ? junk(r, v) : sameValue(r, v);
    label += bad ? '+junk' : '+spelling';
  }
  return { label, args };
}
