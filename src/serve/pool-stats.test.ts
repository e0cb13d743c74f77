import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Allocation, IntervalSet, SLOT, poolOf } from '../alloc/index.js';
import { PoolHistory, poolStats } from './pool-stats.js';

const pool = poolOf([{ start: 10 * SLOT, end: 20 * SLOT }], 'ten slots');
const at = (slot: number, slots = 1, parent: string | null = null): Allocation => ({
  id: slot,
  realm: 'default',
  name: `s${slot}`,
  kind: 'container',
  owner: null,
  parent,
  fs: null,
  holder: null,
  createdAt: '',
  uid: { start: slot * SLOT, end: (slot + slots) * SLOT },
  gid: { start: slot * SLOT, end: (slot + slots) * SLOT },
});

test('pool stats: allocated, free, excluded slots, the largest free run and fragmentation', () => {
  const empty = poolStats([], IntervalSet.of([]), pool);
  assert.deepEqual(
    [empty.slots, empty.allocatedSlots, empty.freeSlots, empty.largestFreeRun, empty.freeRuns, empty.fragmentation],
    [10, 0, 10, 10, 1, 0],
  );
  // Slots 12 and 15-16 taken, a real user's id inside slot 18: free runs 10-11, 13-14, 17, 19.
  const s = poolStats([at(12), at(15, 2), at(15, 1, 's15')], IntervalSet.of([{ start: 18 * SLOT + 5, end: 18 * SLOT + 6 }]), pool);
  assert.deepEqual([s.allocatedSlots, s.freeSlots, s.excludedSlots, s.largestFreeRun, s.freeRuns], [3, 6, 1, 2, 4]);
  assert.equal(s.fragmentation, 1 - 2 / 6);
  const full = poolStats([at(10, 10)], IntervalSet.of([]), pool);
  assert.deepEqual([full.freeSlots, full.fragmentation], [0, 0]);
});

test('pool history: a fixed ring, oldest first', () => {
  const h = new PoolHistory(3);
  const s = poolStats([], IntervalSet.of([]), pool);
  for (let t = 1; t <= 5; t++) h.add(t, s);
  assert.deepEqual(
    h.samples.map((x) => x.t),
    [3, 4, 5],
  );
  assert.equal(h.last?.free, 10);
});
