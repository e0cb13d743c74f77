import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import fc from 'fast-check';
import { isFsidmapError } from '../errors.js';
import { chooseIds, chooseRange, homeIndex, homeStart } from './choose.js';
import { freeRuns, nthStart } from './free-slots.js';
import { IntervalSet } from './interval-set.js';
import { DEFAULT_POOL, SLOT, parsePool, poolOf } from './pool.js';
import { seededRandom } from './random.js';
import { reservedSet } from './reserved.js';
import { SlotMap } from './slot-map.js';

const pool = (slots: number, base = 0x100000): ReturnType<typeof poolOf> =>
  poolOf([{ start: base, end: base + slots * SLOT }], 'test pool');

/** Blocks the given slot indices of a pool starting at base. */
function blockSlots(indices: Iterable<number>, base = 0x100000): IntervalSet {
  return IntervalSet.of([...indices].map((i) => ({ start: base + i * SLOT, end: base + (i + 1) * SLOT })));
}

test('choice: every start is 65536-aligned, inside the pool, and clear of blocked ids', () => {
  const ranges = fc.array(fc.record({ s: fc.integer({ min: 0, max: 2 ** 24 }), n: fc.integer({ min: 1, max: 2 ** 19 }) }), {
    maxLength: 20,
  });
  fc.assert(
    fc.property(
      ranges,
      fc.integer({ min: 1, max: 4 }),
      fc.integer(),
      fc.string({ minLength: 1, maxLength: 12 }),
      (blocked, slots, seed, name) => {
        const p = poolOf([{ start: 12345, end: 2 ** 24 + 777 }], 'odd pool');
        const b = IntervalSet.of(blocked.map((r) => ({ start: r.s, end: r.s + r.n })));
        const size = slots * SLOT;
        let c;
        try {
          c = chooseRange(name, size, { pool: p, blocked: SlotMap.of(b) }, seededRandom(seed));
        } catch (e) {
          assert.ok(isFsidmapError(e) && e.code === 'ERR_POOL_EXHAUSTED');
          assert.equal(freeRuns(p, b, size).total, 0, 'exhausted only when no candidate exists');
          return;
        }
        assert.equal(c.start % SLOT, 0);
        assert.equal(c.end - c.start, size);
        assert.ok(c.start >= 12345 && c.end <= 2 ** 24 + 777, 'inside the pool');
        assert.equal(b.overlaps(c.start, c.end), false, 'clear of blocked ids');
      },
    ),
  );
});

test('hash first: a name lands on its home slot whenever that slot is free, whatever the randomness', () => {
  const p = pool(1000);
  for (const name of ['web-1', 'db', 'tenant-a/ci-runner-17']) {
    const home = homeStart(name, p, SLOT)!;
    const seen = new Set<number>();
    for (let seed = 0; seed < 20; seed++) {
      const c = chooseRange(name, SLOT, { pool: p, blocked: SlotMap.of(blockSlots([0, 1, 999])) }, seededRandom(seed));
      seen.add(c.start);
      if (c.start === home) assert.equal(c.via, 'hash');
    }
    assert.deepEqual([...seen], [home]);
  }
});

test('hash first: when the home slot is taken the choice is random and never the taken slot', () => {
  const p = pool(50);
  const homeSlot = (homeStart('web-1', p, SLOT)! - 0x100000) / SLOT;
  for (let seed = 0; seed < 200; seed++) {
    const c = chooseRange('web-1', SLOT, { pool: p, blocked: SlotMap.of(blockSlots([homeSlot])) }, seededRandom(seed));
    assert.equal(c.via, 'random');
    assert.notEqual((c.start - 0x100000) / SLOT, homeSlot);
  }
});

test('hash: the home slot is SHA-256 based and stable across versions and hosts', () => {
  // Golden values: changing them moves every re-created container. They
  // must only change with a new "fsidmap-slot-vN" prefix.
  assert.equal(homeIndex('web-1', 28664), 6596); // python3: int.from_bytes(sha256(b'fsidmap-slot-v1\x00web-1').digest()[:8], 'big') % 28664
  assert.equal(homeStart('web-1', DEFAULT_POOL, SLOT), 0x80000 + 6596 * SLOT);
  // The same digest from coreutils' sha256sum: nothing Node-specific in the mapping.
  const r = spawnSync('sha256sum', { input: Buffer.from('fsidmap-slot-v1\0web-1', 'utf8') });
  assert.equal(r.status, 0);
  const first8 = BigInt('0x' + r.stdout.toString().slice(0, 16));
  assert.equal(Number(first8 % 28664n), homeIndex('web-1', 28664));
});

/** Pearson's chi-square statistic of observed counts against equal expectation. */
function chiSquare(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((s, o) => s + (o - expected) ** 2 / expected, 0);
}

/** Upper 0.001 critical value of chi-square with k degrees of freedom (Wilson–Hilferty). */
function chiSquareCritical001(k: number): number {
  const z = 3.090232; // standard normal 0.999 quantile
  return k * (1 - 2 / (9 * k) + z * Math.sqrt(2 / (9 * k))) ** 3;
}

/** A name whose home range is blocked, so every choice for it takes the random path. */
function busyName(p: ReturnType<typeof poolOf>, blocked: IntervalSet, size: number): string {
  for (let i = 0; ; i++) {
    const home = homeStart(`busy-${i}`, p, size)!;
    if (blocked.overlaps(home, home + size)) return `busy-${i}`;
  }
}

function drawCounts(p: ReturnType<typeof poolOf>, blocked: IntervalSet, size: number, draws: number, seed: number): Map<number, number> {
  const random = seededRandom(seed);
  const name = busyName(p, blocked, size);
  const map = SlotMap.of(blocked);
  const counts = new Map<number, number>();
  for (let i = 0; i < draws; i++) {
    const c = chooseRange(name, size, { pool: p, blocked: map }, random);
    assert.equal(c.via, 'random');
    counts.set(c.start, (counts.get(c.start) ?? 0) + 1);
  }
  return counts;
}

test('uniform: at 99% full every one of the free slots is chosen equally often (chi-square, fixed seed)', () => {
  const slots = 10000;
  const p = pool(slots);
  const rnd = seededRandom(42);
  const free = new Set<number>();
  while (free.size < 100) free.add(rnd.below(slots));
  const taken = [...Array(slots).keys()].filter((i) => !free.has(i));
  const blocked = blockSlots(taken);
  const counts = drawCounts(p, blocked, SLOT, 200 * free.size, 7);
  assert.equal(counts.size, free.size, 'every free slot was chosen');
  for (const s of counts.keys()) assert.ok(free.has((s - 0x100000) / SLOT), 'only free slots are chosen');
  const stat = chiSquare([...counts.values()]);
  assert.ok(
    stat < chiSquareCritical001(free.size - 1),
    `chi-square ${stat.toFixed(1)} below ${chiSquareCritical001(free.size - 1).toFixed(1)}`,
  );
});

test('uniform: multi-slot requests are uniform over every start that fits, not over runs', () => {
  // Runs of 2, 3 and 6 free slots: a size-2 request has 1 + 2 + 5 = 8 candidate starts.
  const p = pool(20);
  const freeSlots = new Set([0, 1, 5, 6, 7, 10, 11, 12, 13, 14, 15]);
  const blocked = blockSlots([...Array(20).keys()].filter((i) => !freeSlots.has(i)));
  const runs = freeRuns(p, blocked, 2 * SLOT);
  assert.equal(runs.total, 8);
  const counts = drawCounts(p, blocked, 2 * SLOT, 8000, 3);
  assert.equal(counts.size, 8);
  const stat = chiSquare([...counts.values()]);
  assert.ok(stat < chiSquareCritical001(7), `chi-square ${stat.toFixed(1)}`);
});

test('exhaustion: a pool of N slots gives exactly N allocations, then ERR_POOL_EXHAUSTED with counts', () => {
  const n = 37;
  const p = pool(n);
  const blocked = new IntervalSet();
  const map = new SlotMap();
  const random = seededRandom(1);
  for (let i = 0; i < n; i++) {
    const c = chooseRange(`c${i}`, SLOT, { pool: p, blocked: map }, random);
    assert.equal(blocked.overlaps(c.start, c.end), false);
    blocked.add(c.start, c.end);
    map.block(c.start, c.end);
  }
  assert.equal(blocked.size, n * SLOT);
  const blockedMap = map;
  assert.throws(
    () => chooseRange('one-more', SLOT, { pool: p, blocked: blockedMap }, random),
    (e: unknown) => {
      assert.ok(isFsidmapError(e));
      assert.equal(e.code, 'ERR_POOL_EXHAUSTED');
      assert.deepEqual([e.context.freeIds, e.context.largestFreeRun], [0, 0]);
      return true;
    },
  );
});

test('exhaustion: fragmentation is reported as free ids with a smaller largest free run', () => {
  const p = pool(6);
  const blocked = SlotMap.of(blockSlots([1, 3, 5]));
  assert.throws(
    () => chooseRange('x', 2 * SLOT, { pool: p, blocked }, seededRandom(1)),
    (e: unknown) => {
      assert.ok(isFsidmapError(e) && e.code === 'ERR_POOL_EXHAUSTED');
      assert.deepEqual([e.context.freeIds, e.context.largestFreeRun, e.context.size], [3 * SLOT, SLOT, 2 * SLOT]);
      return true;
    },
  );
});

test('reserved: a pool over the whole id space never hands out a reserved id', () => {
  const all = poolOf([{ start: 0, end: 2 ** 32 }], 'everything');
  const reserved = reservedSet();
  const map = SlotMap.of(reserved);
  const random = seededRandom(9);
  for (let i = 0; i < 2000; i++) {
    const c = chooseRange(`n${i}`, SLOT, { pool: all, blocked: map }, random);
    assert.equal(reserved.overlaps(c.start, c.end), false);
    assert.ok(c.start >= 65536 && c.end <= 0x7ffe0000);
  }
});

test('uid and gid: one pool gives equal ranges free on both sides; two pools are chosen apart', () => {
  const p = pool(10);
  const uidBlocked = SlotMap.of(blockSlots([0, 1, 2]));
  const gidBlocked = SlotMap.of(blockSlots([3, 4, 5]));
  for (let seed = 0; seed < 50; seed++) {
    const { uid, gid } = chooseIds({
      name: `c${seed}`,
      size: SLOT,
      uid: { pool: p, blocked: uidBlocked },
      gid: { pool: p, blocked: gidBlocked },
      random: seededRandom(seed),
    });
    assert.deepEqual([uid.start, uid.end], [gid.start, gid.end]);
    assert.ok(uidBlocked.isFree(uid.start, uid.end) && gidBlocked.isFree(gid.start, gid.end));
  }
  const q = pool(10, 0x10000000);
  const { uid, gid } = chooseIds({
    name: 'split',
    size: SLOT,
    uid: { pool: p, blocked: uidBlocked },
    gid: { pool: q, blocked: new SlotMap() },
    random: seededRandom(1),
  });
  assert.ok(uid.start >= 0x100000 && uid.end <= 0x100000 + 10 * SLOT);
  assert.ok(gid.start >= 0x10000000 && gid.end <= 0x10000000 + 10 * SLOT);
});

test('pool: START:COUNT parses decimal and hex; bad specs are usage errors naming the part', () => {
  assert.deepEqual(parsePool('524288:1878523904').ranges, [{ start: 524288, end: 0x70000000 }]);
  assert.deepEqual(parsePool('0x80000:0x6ff80000').ranges, [{ start: 524288, end: 0x70000000 }]);
  const cases: [string, string][] = [
    ['524288', 'ERR_USAGE'],
    ['a:b', 'ERR_USAGE'],
    ['1:2:3', 'ERR_USAGE'],
    ['-1:65536', 'ERR_USAGE'],
    ['4294901760:131072', 'ERR_POOL_INVALID'],
    ['100000:65536', 'ERR_POOL_INVALID'],
    ['0:0', 'ERR_POOL_INVALID'],
  ];
  for (const [spec, code] of cases) {
    assert.throws(
      () => parsePool(spec),
      (e: unknown) => isFsidmapError(e) && e.code === code,
      spec,
    );
  }
});

test('slot map: its free runs equal the id-level free runs of the same blocked intervals', () => {
  const ranges = fc.array(fc.record({ s: fc.integer({ min: 0, max: 2 ** 26 }), n: fc.integer({ min: 1, max: 2 ** 20 }) }), {
    maxLength: 25,
  });
  const pools = fc.array(fc.record({ s: fc.integer({ min: 0, max: 2 ** 26 }), n: fc.integer({ min: SLOT, max: 2 ** 24 }) }), {
    minLength: 1,
    maxLength: 3,
  });
  fc.assert(
    fc.property(ranges, pools, fc.integer({ min: 1, max: 5 }), (blocked, ps, slots) => {
      const set = IntervalSet.of(blocked.map((r) => ({ start: r.s, end: r.s + r.n })));
      let p;
      try {
        p = poolOf(
          ps.map((r) => ({ start: r.s, end: r.s + r.n })),
          'p',
        );
      } catch {
        return;
      }
      assert.deepEqual(SlotMap.of(set).freeRuns(p, slots * SLOT), freeRuns(p, set, slots * SLOT));
    }),
  );
});

test('slot map: the block-counted one-slot path finds exactly the k-th candidate of the free runs', () => {
  const ranges = fc.array(fc.record({ s: fc.integer({ min: 0, max: 2 ** 28 }), n: fc.integer({ min: 1, max: 2 ** 22 }) }), {
    maxLength: 40,
  });
  const pools = fc.array(fc.record({ s: fc.integer({ min: 0, max: 2 ** 28 }), n: fc.integer({ min: SLOT, max: 2 ** 27 }) }), {
    minLength: 1,
    maxLength: 3,
  });
  fc.assert(
    fc.property(ranges, pools, fc.array(fc.nat(), { minLength: 1, maxLength: 10 }), fc.boolean(), (blocked, ps, ks, viaAdd) => {
      let p;
      try {
        p = poolOf(
          ps.map((r) => ({ start: r.s, end: r.s + r.n })),
          'p',
        );
      } catch {
        return;
      }
      const list = blocked.map((r) => ({ start: r.s, end: r.s + r.n }));
      // Built by block() or by add(), and with a removal, so every counter update path is exercised.
      const m = viaAdd ? new SlotMap().add(SlotMap.of(list)) : SlotMap.of(list);
      if (list.length > 0) {
        m.unblock(list[0].start, list[0].end);
        m.block(list[0].start, list[0].end);
      }
      const runs = m.freeRuns(p, SLOT);
      assert.equal(m.countFreeSlots(p), runs.total);
      for (const k of ks) if (runs.total > 0) assert.equal(m.nthFreeSlot(p, k % runs.total), nthStart(runs, k % runs.total));
    }),
  );
});

test('slot map: unblocking one of two blockers of a slot keeps it blocked', () => {
  const m = new SlotMap();
  m.block(0x100000, 0x100000 + SLOT);
  m.block(0x100000 + 5, 0x100000 + 6);
  m.unblock(0x100000, 0x100000 + SLOT);
  assert.equal(m.isFree(0x100000, 0x100000 + SLOT), false);
  m.unblock(0x100000 + 5, 0x100000 + 6);
  assert.equal(m.isFree(0x100000, 0x100000 + SLOT), true);
  assert.throws(() => m.unblock(0, 1), RangeError);
});

test('with a secret key the home slot is HMAC-SHA-256 of the name: stable under the key, unrelated to the public hash', () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i);
  // python3: hmac.new(bytes(range(32)), b'fsidmap-slot-v1\x00uid:1000/web', 'sha256').digest()[:8] as big-endian, % 28664
  assert.equal(homeIndex('uid:1000/web', 28664, key), 3838);
  assert.equal(homeIndex('uid:1000/web', 28664), 21705);
  const other = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
  const homes = new Set(Array.from({ length: 64 }, (_, i) => homeIndex(`uid:1000/n${i}`, 28664, other)));
  assert.ok(homes.size > 60, 'spread over the slots');
});
