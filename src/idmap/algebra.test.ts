import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { compose, identityOn, intersect, invert, mountMap, normalize, restrict, subtract, union } from './algebra.js';
import { arbId, arbMap } from './arbitraries.test-support.js';
import { formatCompact, parseMap } from './format.js';
import { IdMap } from './idmap.js';

const runs = { numRuns: 400 };
const pairsOf = (m: IdMap, ids: number[]) => ids.map((x) => [x, m.mapIdDown(x)]);

describe('algebra laws (property tests)', () => {
  test('normalize is idempotent and keeps the function', () => {
    fc.assert(
      fc.property(arbMap(30, { small: true }), fc.array(arbId(), { maxLength: 40 }), (m, ids) => {
        const n = normalize(m);
        assert.ok(normalize(n).equals(n));
        assert.deepEqual(pairsOf(n, ids), pairsOf(m, ids));
      }),
      runs,
    );
  });

  test('compose agrees with looking up twice: compose(a,b)(x) = b(a(x))', () => {
    fc.assert(
      fc.property(
        arbMap(15, { small: true }),
        arbMap(15, { small: true }),
        fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 60 }),
        (a, b, ids) => {
          const c = compose(a, b);
          for (const x of ids) {
            const ax = a.mapIdDown(x);
            assert.equal(c.mapIdDown(x), ax === undefined ? undefined : b.mapIdDown(ax));
          }
        },
      ),
      runs,
    );
  });

  test('invert is an involution and swaps down with up', () => {
    fc.assert(
      fc.property(arbMap(20), fc.array(arbId(), { maxLength: 40 }), (m, ids) => {
        assert.ok(invert(invert(m)).equals(normalize(m)));
        const inv = invert(m);
        for (const x of ids) {
          assert.equal(inv.mapIdDown(x), m.mapIdUp(x));
          assert.equal(inv.mapIdUp(x), m.mapIdDown(x));
        }
      }),
      runs,
    );
  });

  test("compose(a, invert(a)) is the identity on a's domain", () => {
    fc.assert(
      fc.property(arbMap(20), (a) => {
        const idOnDomain = normalize(a.extents.map((e) => ({ first: e.first, lower: e.first, count: e.count })));
        assert.ok(compose(a, invert(a)).equals(idOnDomain));
      }),
      runs,
    );
  });

  test('compose is associative', () => {
    fc.assert(
      fc.property(arbMap(8, { small: true }), arbMap(8, { small: true }), arbMap(8, { small: true }), (a, b, c) => {
        assert.ok(compose(compose(a, b), c).equals(compose(a, compose(b, c))));
      }),
      runs,
    );
  });

  test('invert(compose(a,b)) = compose(invert(b), invert(a))', () => {
    fc.assert(
      fc.property(arbMap(10, { small: true }), arbMap(10, { small: true }), (a, b) => {
        assert.ok(invert(compose(a, b)).equals(compose(invert(b), invert(a))));
      }),
      runs,
    );
  });

  test('a = union(intersect(a,b), subtract(a,b)), and the two parts share no pair', () => {
    fc.assert(
      fc.property(arbMap(12, { small: true }), arbMap(12, { small: true }), (a, b) => {
        const i = intersect(a, b),
          s = subtract(a, b);
        assert.ok(union(i, s).equals(normalize(a)));
        assert.equal(intersect(i, s).size, 0);
        assert.equal(intersect(s, b).size, 0, 'nothing of b is left in a − b');
      }),
      runs,
    );
  });

  test('intersect is commutative; union with itself and with the empty map is the map', () => {
    fc.assert(
      fc.property(arbMap(12, { small: true }), arbMap(12, { small: true }), (a, b) => {
        assert.ok(intersect(a, b).equals(intersect(b, a)));
        assert.ok(union(a, a).equals(normalize(a)));
        assert.ok(union(a, IdMap.empty()).equals(normalize(a)));
        assert.ok(subtract(a, a).equals(IdMap.empty()));
      }),
      runs,
    );
  });

  test('union either is a bijection containing both maps, or refuses with ERR_IDMAP_CONFLICT', () => {
    fc.assert(
      fc.property(arbMap(8, { small: true }), arbMap(8, { small: true }), (a, b) => {
        let u: IdMap;
        try {
          u = union(a, b);
        } catch (e) {
          assert.equal((e as { code: string }).code, 'ERR_IDMAP_CONFLICT');
          return;
        }
        assert.ok(intersect(u, a).equals(normalize(a)));
        assert.ok(intersect(u, b).equals(normalize(b)));
      }),
      runs,
    );
  });

  test('restrict keeps exactly the ids in the range, on either side', () => {
    fc.assert(
      fc.property(
        arbMap(12, { small: true }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 100 }),
        fc.array(fc.integer({ min: 0, max: 150 }), { maxLength: 40 }),
        (m, s, len, ids) => {
          const r = restrict(m, s, s + len, 'upper');
          const rl = restrict(m, s, s + len, 'lower');
          for (const x of ids) {
            assert.equal(r.mapIdDown(x), x >= s && x < s + len ? m.mapIdDown(x) : undefined);
            assert.equal(rl.mapIdUp(x), x >= s && x < s + len ? m.mapIdUp(x) : undefined);
          }
        },
      ),
      runs,
    );
  });
});

describe('mount maps: M(d) = idmap(fsidmap⁻¹(d))', () => {
  test('the seed example gives 300000 100000 100000', () => {
    const m = mountMap(parseMap('0 100000 100000'), parseMap('0 300000 100000'));
    assert.equal(formatCompact(m), '300000 100000 100000\n');
  });

  test('extents that do not line up are split into aligned pieces', () => {
    const m = mountMap(parseMap('0 100000 10\n10 500000 10'), parseMap('0 300000 5\n5 400000 15'));
    assert.equal(formatCompact(m), '300000 100000 5\n400000 100005 5\n400005 500000 10\n');
  });

  test('through the mount, on-disk d shows as fsidmap⁻¹(d), and new files land where the fsid map says', () => {
    fc.assert(
      fc.property(
        arbMap(10, { small: true, minExtents: 1 }),
        arbMap(10, { small: true, minExtents: 1 }),
        fc.array(fc.integer({ min: 0, max: 150 }), { maxLength: 40 }),
        (idmap, fsidmap, ids) => {
          const m = mountMap(idmap, fsidmap, { allowUnmapped: true });
          for (const d of ids) {
            // stat: on-disk d → vfsuid M(d) → from_kuid(container) must equal what the fsid map shows.
            const k = m.mapIdDown(d);
            const seen = k === undefined ? undefined : idmap.mapIdUp(k);
            const want = fsidmap.mapIdUp(d);
            assert.equal(seen, want !== undefined && idmap.mapIdDown(want) !== undefined ? want : undefined);
            // create: container uid x (kuid idmap(x)) → on disk M⁻¹(kuid) = fsidmap(x).
            const x = d;
            const kx = idmap.mapIdDown(x);
            if (kx !== undefined && fsidmap.mapIdDown(x) !== undefined) assert.equal(m.mapIdUp(kx), fsidmap.mapIdDown(x));
          }
        },
      ),
      runs,
    );
  });

  test('ERR_MOUNTMAP_UNMAPPED when the fsid map gives ids the id map lacks', () => {
    assert.throws(
      () => mountMap(parseMap('0 100000 65536'), parseMap('0 300000 100000')),
      (e: { code: string; context: { unmapped: number[][] } }) => e.code === 'ERR_MOUNTMAP_UNMAPPED' && e.context.unmapped[0][0] === 65536,
    );
    assert.equal(mountMap(parseMap('0 100000 65536'), parseMap('0 300000 100000'), { allowUnmapped: true }).idCount, 65536);
  });

  test('ERR_MOUNTMAP_TOO_MANY_EXTENTS when the pieces exceed 340 lines', () => {
    const idmap = IdMap.from(Array.from({ length: 341 }, (_, i) => ({ first: i * 2, lower: 1000000 + i * 10, count: 1 })));
    assert.throws(() => mountMap(idmap, parseMap('0 300000 700'), { allowUnmapped: true }), { code: 'ERR_MOUNTMAP_TOO_MANY_EXTENTS' });
    assert.equal(mountMap(idmap, parseMap('0 300000 680'), { allowUnmapped: true }).size, 340);
  });

  test('identityOn is the identity on its range', () => {
    assert.equal(identityOn(5, 10).mapIdDown(7), 7);
    assert.equal(identityOn(5, 10).mapIdDown(10), undefined);
    assert.equal(identityOn(5, 5).size, 0);
  });
});
