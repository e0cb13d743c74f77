import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { IntervalSet } from './interval-set.js';

// A bitset over a small universe is the obvious model; the set must agree with it.
const U = 64;
const range = fc
  .tuple(fc.integer({ min: 0, max: U }), fc.integer({ min: 0, max: U }))
  .map(([a, b]) => ({ start: Math.min(a, b), end: Math.max(a, b) }));
const op = fc.record({ add: fc.boolean(), r: range });

function model(ops: { add: boolean; r: { start: number; end: number } }[]): boolean[] {
  const bits = new Array<boolean>(U).fill(false);
  for (const { add, r } of ops) for (let i = r.start; i < r.end; i++) bits[i] = add;
  return bits;
}

function invariant(s: IntervalSet): void {
  for (let i = 0; i < s.length; i++) {
    assert.ok(s.startAt(i) < s.endAt(i), 'no empty interval');
    if (i > 0) assert.ok(s.endAt(i - 1) < s.startAt(i), 'sorted, disjoint and not touching');
  }
}

test('interval set: add/remove agree with a bitset model and keep intervals sorted, disjoint, merged', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 30 }), fc.array(range, { maxLength: 5 }), (ops, probes) => {
      const s = new IntervalSet();
      for (const { add, r } of ops) add ? s.add(r.start, r.end) : s.remove(r.start, r.end);
      invariant(s);
      const bits = model(ops);
      for (let i = 0; i < U; i++) assert.equal(s.contains(i), bits[i], `id ${i}`);
      assert.equal(s.size, bits.filter(Boolean).length);
      for (const p of probes) assert.equal(s.overlaps(p.start, p.end), bits.slice(p.start, p.end).some(Boolean));
      const gaps = [...s.gapsWithin(0, U)];
      for (const g of gaps) for (let i = g.start; i < g.end; i++) assert.equal(bits[i], false);
      assert.equal(
        gaps.reduce((n, g) => n + g.end - g.start, 0),
        U - s.size,
      );
    }),
  );
});

test('interval set: union equals adding both, and of() merges touching ranges', () => {
  fc.assert(
    fc.property(fc.array(range, { maxLength: 15 }), fc.array(range, { maxLength: 15 }), (a, b) => {
      const u = IntervalSet.of(a).union(IntervalSet.of(b));
      invariant(u);
      const all = IntervalSet.of([...a, ...b]);
      assert.deepEqual([...u], [...all]);
    }),
  );
  assert.deepEqual(
    [
      ...IntervalSet.of([
        { start: 5, end: 10 },
        { start: 0, end: 5 },
      ]),
    ],
    [{ start: 0, end: 10 }],
  );
});

test('interval set: handles the top of the u32 space (end 2^32) without overflow', () => {
  const s = IntervalSet.of([{ start: 0xffff0000, end: 0x100000000 }]);
  assert.equal(s.contains(0xffffffff), true);
  assert.equal(s.overlaps(0xfffeffff, 0xffff0000), false);
  assert.deepEqual([...s.gapsWithin(0xfffe0000, 0x100000000)], [{ start: 0xfffe0000, end: 0xffff0000 }]);
});
