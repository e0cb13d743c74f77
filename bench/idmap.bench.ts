// Translation speed of the id-map language: single lookups (the kernel's
// linear scan up to 5 extents, binary search above) and bulk arrays (the
// bucket table), against a straightforward linear scan and a plain binary
// search measured in the same run. Also the time to validate a 340-line map.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { rng } from '../test/support/rng.js';
import { BulkTranslator, checkMapWrite, formatCompact, IdMap, type Extent } from '../src/idmap/index.js';

const N = 2_000_000;

/** n extents of 65536 ids, contiguous inside (a container split into pieces), scattered outside. */
function makeMap(n: number, r: () => number): IdMap {
  const slots = Array.from({ length: 4000 }, (_, i) => i);
  for (let i = slots.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [slots[i], slots[j]] = [slots[j], slots[i]];
  }
  const extents: Extent[] = Array.from({ length: n }, (_, i) => ({ first: i * 65536, lower: 0x80000 + slots[i] * 65536, count: 65536 }));
  return IdMap.from(extents);
}

/** Uniformly random ids over the map's inside range: every one mapped, spread over all extents. */
function randomIds(map: IdMap, r: () => number): Uint32Array {
  const span = map.size * 65536;
  const ids = new Uint32Array(N);
  for (let i = 0; i < N; i++) ids[i] = Math.floor(r() * span);
  return ids;
}

/**
 * Ids as a real image tree has them: mostly its root, then a few system ids,
 * some users, nobody — all offset into one extent of the map. The extent is
 * the middle one in the kernel's order, the average case for a linear scan
 * (an image in the first extent would be its best case).
 */
function clusteredIds(map: IdMap, r: () => number): Uint32Array {
  const base = map.extents[Math.floor((map.size - 1) / 2)].first;
  const common = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 42, 43, 5, 8, 100, 101, 1000, 65534];
  const ids = new Uint32Array(N);
  for (let i = 0; i < N; i++) ids[i] = base + (r() < 0.97 ? common[Math.floor(r() * common.length)] : Math.floor(r() * 2000));
  return ids;
}

function linearScanBaseline(extents: readonly Extent[]) {
  const f = Float64Array.from(extents.map((e) => e.first));
  const c = Float64Array.from(extents.map((e) => e.count));
  const l = Float64Array.from(extents.map((e) => e.lower));
  return (input: Uint32Array, out: Uint32Array) => {
    for (let i = 0; i < input.length; i++) {
      const id = input[i];
      let v = 4294967295;
      for (let k = 0; k < f.length; k++) {
        if (id >= f[k] && id < f[k] + c[k]) {
          v = id - f[k] + l[k];
          break;
        }
      }
      out[i] = v;
    }
  };
}

function binarySearchBaseline(extents: readonly Extent[]) {
  const sorted = [...extents].sort((a, b) => a.first - b.first);
  const f = Float64Array.from(sorted.map((e) => e.first));
  const c = Float64Array.from(sorted.map((e) => e.count));
  const l = Float64Array.from(sorted.map((e) => e.lower));
  return (input: Uint32Array, out: Uint32Array) => {
    for (let i = 0; i < input.length; i++) {
      const id = input[i];
      let lo = 0,
        hi = f.length - 1,
        v = 4294967295;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (id < f[mid]) hi = mid - 1;
        else if (id >= f[mid] + c[mid]) lo = mid + 1;
        else {
          v = id - f[mid] + l[mid];
          break;
        }
      }
      out[i] = v;
    }
  };
}

/** Best of several timed runs, in ids per second. */
function rate(fn: () => void, ids: number, repeat = 5): number {
  fn(); // warm-up (JIT)
  let best = Infinity;
  for (let k = 0; k < repeat; k++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return ids / best;
}

const r = rng(42);
const rows: Array<Record<string, string | number>> = [];
const results: Record<string, unknown>[] = [];
const out = new Uint32Array(N);
const M = (x: number) => (x / 1e6).toFixed(1);

for (const n of [1, 5, 6, 64, 340]) {
  const map = makeMap(n, r);
  for (const [shape, ids] of [
    ['random', randomIds(map, r)],
    ['clustered', clusteredIds(map, r)],
  ] as const) {
    const bulk = new BulkTranslator(map, 'down');
    const bulkRate = rate(() => bulk.translateArray(ids, out), N);
    const singleRate = rate(
      () => {
        for (let i = 0; i < N; i++) out[i] = map.mapIdDown(ids[i]) ?? 4294967295;
      },
      N,
      3,
    );
    const linear = linearScanBaseline(map.extents);
    const linearRate = rate(() => linear(ids, out), N, n >= 64 ? 2 : 3);
    const bsearch = binarySearchBaseline(map.extents);
    const bsearchRate = rate(() => bsearch(ids, out), N, 3);
    rows.push({
      extents: n,
      ids: shape,
      'bulk M/s': M(bulkRate),
      'single M/s': M(singleRate),
      'linear baseline M/s': M(linearRate),
      'bsearch baseline M/s': M(bsearchRate),
      'bulk ÷ linear': (bulkRate / linearRate).toFixed(1) + '×',
      'bulk ÷ bsearch': (bulkRate / bsearchRate).toFixed(1) + '×',
    });
    results.push({
      extents: n,
      ids: shape,
      bulkPerSec: bulkRate,
      singlePerSec: singleRate,
      linearPerSec: linearRate,
      bsearchPerSec: bsearchRate,
    });
  }
}

// Validation of a 340-line write (the most the kernel takes), as map_write would see it.
// 340 lines fit in one page only with short numbers: a write of 340 lines of large ids exceeds 4095 bytes.
const big = IdMap.from(Array.from({ length: 340 }, (_, i) => ({ first: i * 2, lower: (339 - i) * 2, count: 1 })));
const text = Buffer.from(formatCompact(big));
let validations = 0;
const t0 = process.hrtime.bigint();
while (Number(process.hrtime.bigint() - t0) < 1e9) {
  if (!checkMapWrite(text).ok) throw new Error('bench map must be valid');
  validations++;
}
const validateMs = Number(process.hrtime.bigint() - t0) / 1e6 / validations;

console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; ${N.toLocaleString()} ids per run, best of several runs`,
);
console.table(rows);
console.log(`checkMapWrite of a 340-line map (${text.length} bytes): ${(validateMs * 1000).toFixed(0)} µs per validation`);
const goal = results.find((x) => x.extents === 340 && x.ids === 'random') as { bulkPerSec: number; linearPerSec: number };
const goalC = results.find((x) => x.extents === 340 && x.ids === 'clustered') as { bulkPerSec: number; linearPerSec: number };
console.log(
  `goal (340 extents): random ${M(goal.bulkPerSec)} M/s (≥ 40, ${(goal.bulkPerSec / goal.linearPerSec).toFixed(1)}× linear, ≥ 5×); clustered ${M(goalC.bulkPerSec)} M/s (≥ 100, ${(goalC.bulkPerSec / goalC.linearPerSec).toFixed(1)}× linear)`,
);
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/idmap.json',
  JSON.stringify(
    { date: new Date().toISOString(), node: process.version, ids: N, translations: results, validate340Microseconds: validateMs * 1000 },
    null,
    2,
  ) + '\n',
);
