import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Accounts } from '../policy/index.js';
import { decideMountMaps, decideNamespaceMaps, mountMapsOf, readMap } from './map-policy.js';
import { type DelegationFacts, peerView } from './peer-view.js';

const facts: DelegationFacts = {
  accounts: Accounts.parse(
    'root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/:/bin/sh\nbob:x:1001:1001::/:/bin/sh\n',
    'root:x:0:\nalice:x:1000:\nbob:x:1001:\n',
  ),
  subuidText: 'alice:100000:65536\nbob:165536:65536\n',
  subgidText: 'alice:100000:65536\nbob:165536:65536\n',
  grantAuxGroupSubids: false,
};
const allocation = { uid: { start: 500000, count: 65536 }, gid: { start: 500000, count: 65536 } };
const alice = peerView(facts, { uid: 1000, gid: 1000 }, [allocation]);
const target = { uid: 1000, gid: 1000, setgroups: 'allow' as const };

describe('namespace maps (newuidmap rules, allocations as subordinate lines)', () => {
  const rows: Array<[name: string, uid: string, gid: string, sg: 'allow' | 'deny' | null, expect: string]> = [
    ['subordinate ranges', '0:100000:65536', '0:100000:65536', null, 'allow'],
    ['an allocated range', '0:500000:65536', '0:500000:65536', null, 'allow'],
    ['subordinate and allocated in two lines', '0:100000:1000,1000:500000:1000', '0:100000:65536', null, 'allow'],
    ['own uid and gid alone force setgroups deny', '0 1000 1', '0 1000 1', null, 'deny'],
    ['deny may always be asked for', '0:100000:65536', '0:100000:65536', 'deny', 'deny'],
    ['allow with only the own gid', '0 1000 1', '0 1000 1', 'allow', 'ERR_BROKER_SETGROUPS'],
    ["bob's range", '0:165536:65536', '0:100000:65536', null, 'ERR_BROKER_IDS_NOT_OWNED'],
    ["bob's range in the gid map", '0:100000:65536', '0:165536:1', null, 'ERR_BROKER_IDS_NOT_OWNED'],
    ['root', '0 0 1', '0:100000:65536', null, 'ERR_BROKER_IDS_NOT_OWNED'],
    ['own uid with count 2', '0 1000 2', '0:100000:65536', null, 'ERR_BROKER_IDS_NOT_OWNED'],
    ['own uid inside a wider line', '0:999:3', '0:100000:65536', null, 'ERR_BROKER_IDS_NOT_OWNED'],
    ['one past the end of the range', '0:100001:65536', '0:100000:65536', null, 'ERR_BROKER_IDS_NOT_OWNED'],
    ['overlapping lines', '0:100000:10,5:100020:10', '0:100000:65536', null, 'ERR_IDMAP_UPPER_OVERLAP'],
    ['junk', '0 1000 x', '0 1000 1', null, 'ERR_IDMAP_JUNK'],
  ];
  for (const [name, uid, gid, sg, expect] of rows) {
    test(name, () => {
      const d = decideNamespaceMaps(alice, target, uid, gid, sg);
      if (expect.startsWith('ERR_')) {
        assert.equal(d.ok, false);
        if (!d.ok) assert.equal(d.refusal.code, expect, d.refusal.message);
      } else {
        assert.equal(d.ok, true, d.ok ? '' : d.refusal.message);
        if (d.ok) assert.equal(d.value.setgroups, expect);
      }
    });
  }

  test("the text written is newuidmap's", () => {
    const d = decideNamespaceMaps(alice, target, '0:100000:65536', '0 1000 1', null);
    assert.ok(d.ok);
    if (d.ok) assert.deepEqual([d.value.uidText, d.value.gidText], ['0 100000 65536\n', '0 1000 1\n']);
  });

  test("a target process that is not the peer's is refused, as newuidmap refuses it", () => {
    const d = decideNamespaceMaps(alice, { uid: 1001, gid: 1001, setgroups: 'allow' }, '0:100000:65536', '0:100000:65536', null);
    assert.equal(d.ok, false);
    if (!d.ok) assert.equal(d.refusal.code, 'ERR_BROKER_POLICY');
  });

  test('a peer without a passwd entry is refused', () => {
    const nobody = peerView(facts, { uid: 4242, gid: 4242 }, []);
    const d = decideNamespaceMaps(nobody, { uid: 4242, gid: 4242, setgroups: 'allow' }, '0 4242 1', '0 4242 1', null);
    assert.equal(d.ok, false);
  });

  test('a single line is allowed exactly when its lower range is delegated, or is the own uid alone (property)', () => {
    const owned = (s: number, e: number) => (s >= 100000 && e <= 165536) || (s >= 500000 && e <= 565536);
    fc.assert(
      fc.property(fc.integer({ min: 90000, max: 600000 }), fc.integer({ min: 1, max: 70000 }), (lower, count) => {
        const d = decideNamespaceMaps(alice, target, `0 ${lower} ${count}`, '0 1000 1', null);
        assert.equal(d.ok, owned(lower, lower + count), `${lower}+${count}`);
      }),
      { numRuns: 500 },
    );
    assert.equal(decideNamespaceMaps(alice, target, '7 1000 1', '0 1000 1', null).ok, true);
  });
});

describe('mount maps (both sides owned, per id)', () => {
  const mm = (uid: string, gid = '100000 100000 65536') => {
    const m = mountMapsOf({ mountMap: { uid, gid }, idmap: null, fsidmap: null });
    assert.ok(m.ok);
    return m.ok ? m.value : (null as never);
  };
  const rows: Array<[name: string, uid: string, expect: string | null, side?: string]> = [
    ['subordinate to allocated', '100000 500000 65536', null],
    ['own uid shown as a subordinate uid', '1000 100000 1', null],
    ['own uid next to subordinate ids is fine per id', '99999 100000 1', 'ERR_BROKER_IDS_NOT_OWNED', 'on-disk'],
    ["bob's files", '165536 100000 10', 'ERR_BROKER_IDS_NOT_OWNED', 'on-disk'],
    ['shown as bob', '100000 165536 10', 'ERR_BROKER_IDS_NOT_OWNED', 'view'],
    ["root's files", '0 100000 1', 'ERR_BROKER_IDS_NOT_OWNED', 'on-disk'],
    ["the peer's setuid file shown as host root", '1000 0 1', 'ERR_BROKER_IDS_NOT_OWNED', 'view'],
  ];
  for (const [name, uid, expect, side] of rows) {
    test(name, () => {
      const d = decideMountMaps(alice, mm(uid));
      if (expect === null) {
        assert.equal(d.ok, true, d.ok ? '' : d.refusal.message);
      } else {
        assert.equal(d.ok, false);
        if (!d.ok) {
          assert.equal(d.refusal.code, expect, d.refusal.message);
          if (side) assert.equal(d.refusal.context.side, side);
          if (uid.startsWith('1000 0')) assert.match(d.refusal.message, /host root/);
        }
      }
    });
  }

  test('an overlapping mount map is refused before anything is checked against ownership', () => {
    const m = mountMapsOf({ mountMap: { uid: '100000 100000 10\n100005 100100 10', gid: '0 0 1' }, idmap: null, fsidmap: null });
    assert.equal(m.ok, false);
    if (!m.ok) assert.match(m.refusal.code, /^ERR_IDMAP_/);
  });

  test('the gid side is checked too', () => {
    const d = decideMountMaps(alice, mm('100000 100000 1', '100000 165536 1'));
    assert.equal(d.ok, false);
    if (!d.ok) assert.deepEqual([d.refusal.context.kind, d.refusal.context.side], ['gid', 'view']);
  });

  test('derived from an id map and an fsid map: M = idmap ∘ fsidmap⁻¹', () => {
    const m = mountMapsOf({
      mountMap: null,
      idmap: { uid: '0:500000:65536', gid: '0:500000:65536' },
      fsidmap: { uid: '0:100000:65536', gid: '0:100000:65536' },
    });
    assert.ok(m.ok);
    if (m.ok) assert.deepEqual(m.value.uid.extents, [{ first: 100000, lower: 500000, count: 65536 }]);
  });

  test('allowed exactly when both ranges are owned (property)', () => {
    const mine = (s: number, e: number) => (s === 1000 && e === 1001) || (s >= 100000 && e <= 165536) || (s >= 500000 && e <= 565536);
    const side = fc.oneof(fc.constant(1000), fc.integer({ min: 0, max: 700000 }));
    fc.assert(
      fc.property(side, side, fc.integer({ min: 1, max: 70000 }), (disk, view, count) => {
        const m = mm(`${disk} ${view} ${count}`);
        const d = decideMountMaps(alice, m);
        assert.equal(d.ok, mine(disk, disk + count) && mine(view, view + count), `${disk} ${view} ${count}`);
      }),
      { numRuns: 500 },
    );
  });

  test('readMap names the field of a bad map', () => {
    const r = readMap('0 0 0', 'uidMap');
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.refusal.message, /^uidMap:/);
  });
});

describe('peer view', () => {
  test("what a peer owns: own ids, its subordinate lines, its allocations; nobody else's", () => {
    assert.deepEqual(alice.owned.uid, { own: 1000, subordinate: [[100000, 165536]], allocated: [[500000, 565536]] });
    const bob = peerView(facts, { uid: 1001, gid: 1001 }, []);
    assert.deepEqual(bob.owned.uid.subordinate, [[165536, 231072]]);
  });

  test('subordinate gids count only with the passwd gid (or GRANT_AUX_GROUP_SUBIDS), as in newgidmap', () => {
    assert.deepEqual(peerView(facts, { uid: 1000, gid: 50 }, []).owned.gid.subordinate, []);
    assert.deepEqual(peerView({ ...facts, grantAuxGroupSubids: true }, { uid: 1000, gid: 50 }, []).owned.gid.subordinate, [
      [100000, 165536],
    ]);
  });

  test('a missing /etc/subuid leaves only allocations', () => {
    const v = peerView({ ...facts, subuidText: null }, { uid: 1000, gid: 1000 }, [allocation]);
    assert.deepEqual(v.owned.uid.subordinate, []);
    assert.ok(v.subuid);
    assert.equal(peerView({ ...facts, subuidText: null }, { uid: 1000, gid: 1000 }, []).subuid, null);
  });
});
