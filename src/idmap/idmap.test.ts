import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { IdMap, uncovered } from './idmap.js';
import { parseMap, formatKernel, formatInline, formatCompact } from './format.js';
import { arbMap } from './arbitraries.test-support.js';

describe('lookups (map_id_down, map_id_up, map_id_range_down)', () => {
  const seed = parseMap('0 100000 100000');
  test('map_id_down: inside id to the lower column', () => {
    assert.equal(seed.mapIdDown(0), 100000);
    assert.equal(seed.mapIdDown(99999), 199999);
    assert.equal(seed.mapIdDown(100000), undefined);
  });
  test('map_id_up: lower id back to the inside id', () => {
    assert.equal(seed.mapIdUp(100005), 5);
    assert.equal(seed.mapIdUp(99999), undefined);
    assert.equal(seed.mapIdUp(200000), undefined);
  });
  test('from_kuid_munged: unmapped reads as the overflow id 65534', () => {
    assert.equal(seed.mapIdUpMunged(0), 65534);
    assert.equal(seed.mapIdUpMunged(0, 99), 99);
  });
  test('map_id_range_down: the whole range must sit in one extent', () => {
    const m = parseMap('0 100 10\n10 110 10');
    assert.equal(m.mapIdRangeDown(0, 10), 100);
    assert.equal(m.mapIdRangeDown(5, 10), undefined, 'spans two adjacent extents');
    assert.equal(m.mapIdRangeDown(12, 3), 112);
  });
  test("map_id_range_down keeps the kernel's u32 wrap of id + count - 1", () => {
    // id2 wraps to 3; both ends lie inside the identity extent, so the kernel finds a match.
    assert.equal(IdMap.identity().mapIdRangeDown(4294967290, 10), 4294967290);
  });
  test('the identity map of the initial namespace maps everything but (u32)-1', () => {
    const id = IdMap.identity();
    assert.equal(id.mapIdDown(0), 0);
    assert.equal(id.mapIdDown(4294967294), 4294967294);
    assert.equal(id.mapIdDown(4294967295), undefined);
  });
  test('more than 5 extents are sorted by first, as the kernel installs and prints them', () => {
    const m = parseMap(Array.from({ length: 6 }, (_, i) => `${(5 - i) * 10} ${i * 10} 10`).join('\n'));
    assert.deepEqual(
      m.extents.map((e) => e.first),
      [0, 10, 20, 30, 40, 50],
    );
    const few = parseMap('50 0 10\n0 50 10');
    assert.deepEqual(
      few.extents.map((e) => e.first),
      [50, 0],
      'up to 5 stay in written order',
    );
  });
  test('linear scan (≤5 extents) and binary search (>5) agree', () => {
    fc.assert(
      fc.property(arbMap(12), fc.array(fc.nat(4294967295), { minLength: 1, maxLength: 50 }), (m, ids) => {
        // The same extents in a ≤5 map, one at a time, must give the same answer as the sorted big map.
        for (const id of ids) {
          let down: number | undefined, up: number | undefined;
          for (const e of m.extents) {
            const one = IdMap.from([e]);
            down ??= one.mapIdDown(id);
            up ??= one.mapIdUp(id);
          }
          assert.equal(m.mapIdDown(id), down);
          assert.equal(m.mapIdUp(id), up);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('IdMap.from validation', () => {
  test('ERR_IDMAP_OVERLAP names both extents', () => {
    assert.throws(
      () =>
        IdMap.from([
          { first: 0, lower: 0, count: 10 },
          { first: 5, lower: 100, count: 1 },
        ]),
      { code: 'ERR_IDMAP_OVERLAP' },
    );
    assert.throws(
      () =>
        IdMap.from([
          { first: 0, lower: 0, count: 10 },
          { first: 50, lower: 9, count: 1 },
        ]),
      { code: 'ERR_IDMAP_OVERLAP' },
    );
  });
  test('ERR_IDMAP_INVALID for -1, zero counts and wraps', () => {
    for (const e of [
      { first: 4294967295, lower: 0, count: 1 },
      { first: 0, lower: 0, count: 0 },
      { first: 1, lower: 0, count: 4294967295 },
      { first: 0.5, lower: 0, count: 1 },
    ]) {
      assert.throws(() => IdMap.from([e]), { code: 'ERR_IDMAP_INVALID' });
    }
  });
  test('ERR_IDMAP_TOO_MANY_EXTENTS before a kernel write of more than 340 lines', () => {
    const m = IdMap.from(Array.from({ length: 341 }, (_, i) => ({ first: i * 2, lower: i * 2, count: 1 })));
    assert.throws(() => m.assertKernelSize(), { code: 'ERR_IDMAP_TOO_MANY_EXTENTS' });
  });
});

describe('formats', () => {
  test('kernel format is "%10u %10u %10u\\n"', () => {
    assert.equal(formatKernel(parseMap('0 100000 65536')), '         0     100000      65536\n');
    assert.equal(formatKernel(IdMap.identity()), '         0          0 4294967295\n');
  });
  test('the util-linux inline spec inner:outer:count is accepted everywhere a map is', () => {
    const m = parseMap('0:100000:65536,65536:300000:10');
    assert.equal(formatInline(m), '0:100000:65536,65536:300000:10');
    assert.equal(formatCompact(m), '0 100000 65536\n65536 300000 10\n');
  });
  test('what the kernel prints parses back to the same map', () => {
    fc.assert(
      fc.property(arbMap(20, { minExtents: 1 }), (m) => {
        assert.ok(parseMap(formatKernel(m)).equals(m));
        assert.ok(parseMap(formatInline(m)).equals(m));
      }),
    );
  });
  test('parseMap errors carry the kernel rule as ERR_IDMAP_<RULE> and the line', () => {
    assert.throws(
      () => parseMap('0 0 1\n0 5 1'),
      (e: { code: string; context: { line: number } }) => e.code === 'ERR_IDMAP_UPPER_OVERLAP' && e.context.line === 2,
    );
    assert.throws(() => parseMap('0:0:0'), { code: 'ERR_IDMAP_COUNT_ZERO' });
    assert.throws(() => parseMap('  '), { code: 'ERR_IDMAP_EMPTY' });
  });
});

test('uncovered lists the gaps of a range', () => {
  const m = parseMap('0 100 10\n20 200 10');
  assert.deepEqual(uncovered(m, 0, 40, 'upper'), [
    [10, 20],
    [30, 40],
  ]);
  assert.deepEqual(uncovered(m, 100, 110, 'lower'), []);
  assert.equal(m.covers(0, 10), true);
  assert.equal(m.covers(0, 11), false);
});
