import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Allocation } from './allocation.js';
import { IntervalSet } from './interval-set.js';
import { type HostFacts, explainId } from './explain.js';
import { hostExclusions, subidPools } from './exclusions.js';
import { holderState } from './holder-state.js';
import { RESERVED_RANGES } from './reserved.js';
import { isFsidmapError } from '../errors.js';

const facts: HostFacts = {
  users: [
    { name: 'root', id: 0 },
    { name: 'alice', id: 1000 },
    { name: 'svc', id: 700000 },
  ],
  groups: [
    { name: 'root', id: 0 },
    { name: 'grp', id: 700001 },
  ],
  subuid: [
    { owner: 'alice', start: 100000, end: 165536 },
    { owner: '1001', start: 165536, end: 231072 },
  ],
  subgid: [{ owner: 'alice', start: 100000, end: 165536 }],
};
const alloc = (name: string, start: number, count: number, parent: string | null = null): Allocation => ({
  id: 1,
  realm: 'default',
  name,
  kind: 'container',
  owner: null,
  parent,
  fs: null,
  uid: { start, end: start + count },
  gid: { start, end: start + count },
  holder: null,
  createdAt: '',
});

test("who: an allocation is named with the id's offset inside it, on both sides", () => {
  const w = explainId(600000 + 17, [alloc('c1', 589824, 65536)], facts);
  assert.deepEqual(
    w.entries.map((e) => [e.source, 'side' in e ? e.side : '-', 'offset' in e ? e.offset : '-']),
    [
      ['allocation', 'uid', 600017 - 589824],
      ['allocation', 'gid', 600017 - 589824],
    ],
  );
  assert.equal(w.nobody, false);
  assert.deepEqual(w.conflicts, []);
});

test('who: subordinate ranges, users and groups are named, and a container inside a subuid range is a conflict', () => {
  const w = explainId(120000, [alloc('bad', 65536 * 1, 65536 * 3)], facts);
  assert.deepEqual(
    w.entries.filter((e) => e.source === 'subuid' || e.source === 'subgid').map((e) => e.source),
    ['subuid', 'subgid'],
  );
  assert.deepEqual(w.conflicts, ['uid', 'gid']);
  assert.deepEqual(
    explainId(700000, [], facts).entries.map((e) => e.source),
    ['user'],
  );
  assert.deepEqual(
    explainId(700001, [], facts).entries.map((e) => e.source),
    ['group'],
  );
  // An owner written as a uid is reported as written.
  const byUid = explainId(170000, [], facts).entries[0];
  assert.ok(byUid.source === 'subuid' && byUid.owner === '1001');
});

test('who: a child inside its parent is not a conflict; two unrelated allocations are', () => {
  const parent = alloc('node', 0x200000, 0x40000);
  const child = alloc('node/pod', 0x210000, 0x10000, 'node');
  assert.deepEqual(explainId(0x210005, [parent, child], facts).conflicts, []);
  const w = explainId(0x210005, [parent, child], facts);
  assert.deepEqual(
    w.entries.filter((e) => e.source === 'allocation' && e.side === 'uid').map((e) => e.source === 'allocation' && e.allocation.name),
    ['node', 'node/pod'],
  );
  assert.deepEqual(explainId(0x210005, [parent, alloc('stray', 0x210000, 0x10000)], facts).conflicts, ['uid', 'gid']);
});

test('who: reserved ranges and nobody; every reserved range is explained', () => {
  for (const r of RESERVED_RANGES) {
    const w = explainId(r.start, [], { users: [], groups: [], subuid: [], subgid: [] });
    assert.equal(w.nobody, true);
    assert.deepEqual(
      w.entries.map((e) => e.source === 'reserved' && e.purpose),
      [r.purpose],
    );
  }
  const free = explainId(0x10000000, [], facts);
  assert.deepEqual([free.nobody, free.inContainerRange, free.entries.length], [true, true, 0]);
  assert.equal(explainId(70000, [], facts).inContainerRange, false);
});

test('exclusions: reserved ranges, user and group ids always; subids only when asked or for other users of a subid pool', () => {
  const plain = hostExclusions(facts);
  assert.equal(plain.uid.contains(700000), true);
  assert.equal(plain.uid.contains(700001), false, 'a group id is excluded on the gid side only');
  assert.equal(plain.gid.contains(700001), true);
  assert.equal(plain.uid.contains(65534), true);
  assert.equal(plain.uid.contains(0x7ffe0000), true);
  assert.equal(plain.uid.contains(120000), false);
  assert.equal(hostExclusions(facts, { respectSubids: true }).uid.contains(120000), true);
  const alicePool = hostExclusions(facts, { poolUser: ['alice', '1000'] });
  assert.equal(alicePool.uid.contains(120000), false, "the pool user's own range is the pool");
  assert.equal(alicePool.uid.contains(170000), true, "another user's range is excluded");
  // useradd's default 100000:65536 is a pool as it is: its slots start at 100000.
  const own = subidPools(facts, ['alice', '1000']);
  assert.deepEqual([own.uidPool.ranges, own.uidPool.anchored], [[{ start: 100000, end: 165536 }], true]);
  assert.throws(
    () => subidPools({ ...facts, subuid: [{ owner: 'alice', start: 100000, end: 165535 }] }, ['alice']),
    (e: unknown) => isFsidmapError(e) && e.code === 'ERR_POOL_INVALID' && /holds no range of 65536 ids/.test(e.message),
  );
  const aligned = {
    ...facts,
    subuid: [{ owner: 'alice', start: 131072, end: 262144 }],
    subgid: [{ owner: 'alice', start: 131072, end: 262144 }],
  };
  const pools = subidPools(aligned, ['alice', '1000']);
  assert.deepEqual(pools.uidPool.ranges, [{ start: 131072, end: 262144 }]);
  assert.throws(
    () => subidPools(facts, ['nobody']),
    (e: unknown) => isFsidmapError(e) && e.code === 'ERR_POOL_INVALID',
  );
  assert.ok(IntervalSet.of(plain.uid).size > 0);
});

test('holders: alive only on this machine and boot with the same pid start time', () => {
  const h = { pid: 42, startTime: 1234, bootId: 'B', machineId: 'M', host: 'h' };
  const probe = (start: number | undefined) => ({ local: { bootId: 'B', machineId: 'M' }, startTimeOf: () => start });
  assert.equal(holderState(h, probe(1234)), 'alive');
  assert.equal(holderState(h, probe(9999)), 'gone', 'pid reused by a later process');
  assert.equal(holderState(h, probe(undefined)), 'gone', 'no such pid');
  assert.equal(holderState({ ...h, bootId: 'old' }, probe(1234)), 'gone', 'an earlier boot');
  assert.equal(holderState({ ...h, machineId: 'other' }, probe(undefined)), 'elsewhere');
});
