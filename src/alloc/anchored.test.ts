import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isFsidmapError } from '../errors.js';
import { chooseRange } from './choose.js';
import { freeRuns, nthStart } from './free-slots.js';
import { IntervalSet } from './interval-set.js';
import { SLOT, poolOf } from './pool.js';
import { seededRandom } from './random.js';
import { childPools, normalizeRequest } from './request.js';
import { SlotMap } from './slot-map.js';

const blockedRanges = fc.array(fc.record({ s: fc.integer({ min: 0, max: 2 ** 26 }), n: fc.integer({ min: 1, max: 2 ** 20 }) }), {
  maxLength: 30,
});
const poolRanges = fc.array(fc.record({ s: fc.integer({ min: 0, max: 2 ** 26 }), n: fc.integer({ min: SLOT, max: 2 ** 22 }) }), {
  minLength: 1,
  maxLength: 3,
});

function anchoredPool(ps: readonly { s: number; n: number }[]) {
  return poolOf(
    ps.map((r) => ({ start: r.s, end: r.s + r.n })),
    'p',
    { anchored: true },
  );
}

test('anchored pool: the slot map and the id-level sweep give the same free runs, and the one-slot path the same k-th start', () => {
  fc.assert(
    fc.property(
      blockedRanges,
      poolRanges,
      fc.integer({ min: 1, max: 4 }),
      fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
      (b, ps, slots, ks) => {
        const list = b.map((r) => ({ start: r.s, end: r.s + r.n }));
        const set = IntervalSet.of(list);
        const p = anchoredPool(ps);
        const m = SlotMap.of(list);
        assert.deepEqual(m.freeRuns(p, slots * SLOT), freeRuns(p, set, slots * SLOT));
        const runs = m.freeRuns(p, SLOT);
        assert.equal(m.countFreeSlots(p), runs.total);
        for (const k of ks) if (runs.total > 0) assert.equal(m.nthFreeSlot(p, k % runs.total), nthStart(runs, k % runs.total));
        // A grid built after the blockers changed counts them as one built before.
        if (list.length > 0) {
          const late = new SlotMap();
          for (const r of list) late.block(r.start, r.end);
          late.unblock(list[0].start, list[0].end);
          const early = SlotMap.of(list);
          early.countFreeSlots(p);
          early.unblock(list[0].start, list[0].end);
          assert.deepEqual(early.freeRuns(p, SLOT), late.freeRuns(p, SLOT));
        }
      },
    ),
  );
});

test('anchored pool: every choice starts on its range grid (START + k·65536), inside the pool, clear of blocked ids', () => {
  fc.assert(
    fc.property(blockedRanges, poolRanges, fc.integer({ min: 1, max: 3 }), fc.nat(), (b, ps, slots, seed) => {
      const set = IntervalSet.of(b.map((r) => ({ start: r.s, end: r.s + r.n })));
      const p = anchoredPool(ps);
      const size = slots * SLOT;
      let c;
      try {
        c = chooseRange(`n${seed}`, size, { pool: p, blocked: SlotMap.of(set) }, seededRandom(seed));
      } catch (e) {
        assert.ok(isFsidmapError(e) && e.code === 'ERR_POOL_EXHAUSTED');
        assert.equal(freeRuns(p, set, size).total, 0, 'refused only when no candidate exists');
        return;
      }
      const home = p.ranges.find((r) => r.start <= c.start && c.end <= r.end);
      assert.ok(home, 'inside one range of the pool');
      assert.equal((c.start - home.start) % SLOT, 0, 'on the grid of its range');
      assert.equal(set.overlaps(c.start, c.end), false, 'clear of blocked ids');
    }),
  );
});

test('anchored pool at an aligned start chooses exactly as the aligned pool does', () => {
  fc.assert(
    fc.property(blockedRanges, fc.integer({ min: 0, max: 2 ** 10 }), fc.integer({ min: 1, max: 64 }), fc.nat(), (b, k, slots, seed) => {
      const set = IntervalSet.of(b.map((r) => ({ start: r.s, end: r.s + r.n })));
      const range = { start: k * SLOT, end: (k + slots) * SLOT + 123 };
      const choose = (anchored: boolean) => {
        try {
          return chooseRange('x', SLOT, { pool: poolOf([range], 'p', { anchored }), blocked: SlotMap.of(set) }, seededRandom(seed));
        } catch (e) {
          return isFsidmapError(e) ? e.code : e;
        }
      };
      assert.deepEqual(choose(true), choose(false));
    }),
  );
});

test('a child of a parent at 100000 is carved on the parent grid; an anchored pool of fewer than 65536 ids is refused', () => {
  const parent = {
    id: 1,
    realm: 'default',
    name: 'node',
    kind: 'container' as const,
    owner: null,
    parent: null,
    fs: null,
    uid: { start: 100000, end: 100000 + 2 * SLOT },
    gid: { start: 100000, end: 100000 + 2 * SLOT },
    holder: null,
    createdAt: '2026-01-01T00:00:00Z',
  };
  const { uidPool } = childPools(normalizeRequest({ name: 'node/pod', parent: 'node' }), parent);
  const c = chooseRange('node/pod', SLOT, { pool: uidPool, blocked: SlotMap.of([{ start: 100000, end: 100001 }]) }, seededRandom(1));
  assert.deepEqual([c.start, c.end], [165536, 231072]);
  assert.throws(
    () => poolOf([{ start: 100000, end: 165535 }], 'short', { anchored: true }),
    (e: unknown) => isFsidmapError(e) && e.code === 'ERR_POOL_INVALID',
  );
});
