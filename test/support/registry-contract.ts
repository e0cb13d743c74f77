// The registry contract, as tests: every store must pass all of them.
// sqlite.test.ts runs them on SQLite files, alloc-postgres.test.ts on a real
// PostgreSQL server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Allocation,
  type Exclusions,
  type HolderProbe,
  IntervalSet,
  SLOT,
  hostExclusions,
  homeStart,
  poolOf,
  seededRandom,
  subidPools,
} from '../../src/alloc/index.js';
import { isFsidmapError } from '../../src/errors.js';
import type { MappedCheck, Registry } from '../../src/registry/index.js';
import { collectGarbage } from '../../src/registry/index.js';

export interface Harness {
  /** A fresh, empty registry; a second call with the same key opens the same one again (another connection). */
  open(key?: string, options?: { readOnly?: boolean }): Promise<Registry>;
}

const NO_HOST = hostExclusions({ subuid: [], subgid: [], users: [], groups: [] });
const opts = (seed = 1, exclusions: Exclusions = NO_HOST) => ({ exclusions, random: seededRandom(seed) });
const smallPool = (slots: number, base = 0x10000000) => poolOf([{ start: base, end: base + slots * SLOT }], `test pool ${slots}`);

function code(c: string) {
  return (e: unknown): boolean => {
    assert.ok(isFsidmapError(e), `expected FsidmapError ${c}, got ${String(e)}`);
    assert.equal(e.code, c);
    return true;
  };
}

function assertDisjoint(list: readonly Allocation[]): void {
  for (const side of ['uid', 'gid'] as const) {
    const byScope = new Map<string, Allocation[]>();
    for (const a of list) byScope.set(`${a.realm}/${a.parent ?? ''}`, [...(byScope.get(`${a.realm}/${a.parent ?? ''}`) ?? []), a]);
    for (const group of byScope.values()) {
      const sorted = [...group].sort((a, b) => a[side].start - b[side].start);
      for (let i = 1; i < sorted.length; i++) {
        assert.ok(
          sorted[i - 1][side].end <= sorted[i][side].start,
          `${side} ranges of ${sorted[i - 1].name} and ${sorted[i].name} overlap`,
        );
      }
    }
  }
}

/** useradd's subordinate ranges, one user after the other, as on a host where each user got the default 65536. */
const USERADD_HOST = {
  users: [
    { name: 'alice', id: 1000 },
    { name: 'bob', id: 1001 },
    { name: 'carol', id: 1002 },
  ],
  groups: [],
  subuid: [
    { owner: 'alice', start: 100000, end: 165536 },
    { owner: 'bob', start: 165536, end: 231072 },
    { owner: 'carol', start: 1500000, end: 1631072 },
  ],
  subgid: [
    { owner: 'alice', start: 100000, end: 165536 },
    { owner: 'bob', start: 165536, end: 231072 },
    { owner: 'carol', start: 1500000, end: 1631072 },
  ],
};

/** What `alloc --pool-user USER` passes: USER's ranges as the pool, everyone else's excluded. */
function poolUser(user: string, seed: number) {
  const exclusions = hostExclusions(USERADD_HOST, { poolUser: [user] });
  return { pools: subidPools(USERADD_HOST, [user]), options: { exclusions, random: seededRandom(seed) } };
}

export function registryContract(store: string, h: Harness): void {
  const t = (name: string, fn: () => Promise<void>): void => {
    test(`${store} contract: ${name}`, fn);
  };

  t('a new container gets one aligned 65536-id slot, equal uid and gid, in the default pool', async () => {
    const r = await h.open();
    try {
      const { allocation: a, created } = await r.allocate({ name: 'web-1' }, opts());
      assert.equal(created, true);
      assert.deepEqual([a.kind, a.fs, a.parent, a.owner, a.realm], ['container', null, null, null, 'default']);
      assert.equal(a.uid.start % SLOT, 0);
      assert.equal(a.uid.end - a.uid.start, SLOT);
      assert.deepEqual(a.gid, a.uid);
      assert.ok(a.uid.start >= 0x80000 && a.uid.end <= 0x70000000);
      assert.equal(
        a.uid.start,
        homeStart('web-1', poolOf([{ start: 0x80000, end: 0x70000000 }], 'p'), SLOT),
        'empty registry: the name lands on its hash slot',
      );
    } finally {
      await r.close();
    }
  });

  t('allocate is idempotent: the same name returns the same allocation, from any connection', async () => {
    const r = await h.open('idem');
    const r2 = await h.open('idem');
    try {
      const first = await r.allocate({ name: 'db', size: 2 * SLOT }, opts(1));
      const again = await r.allocate({ name: 'db' }, opts(2));
      const other = await r2.allocate({ name: 'db', size: 2 * SLOT }, opts(3));
      assert.equal(again.created, false);
      assert.equal(again.via, 'existing');
      assert.deepEqual(again.allocation, first.allocation);
      assert.deepEqual(other.allocation, first.allocation);
      assert.deepEqual(await r2.get('db'), first.allocation);
    } finally {
      await r.close();
      await r2.close();
    }
  });

  t('a name held by another kind is ERR_NAME_TAKEN; a different explicit size is ERR_ALLOC_CONFLICT', async () => {
    const r = await h.open();
    try {
      await r.allocate({ name: 'base', kind: 'image' }, opts());
      await assert.rejects(r.allocate({ name: 'base', kind: 'container' }, opts()), code('ERR_NAME_TAKEN'));
      await assert.rejects(r.allocate({ name: 'base', kind: 'volume' }, opts()), code('ERR_NAME_TAKEN'));
      await assert.rejects(r.allocate({ name: 'base', kind: 'image', size: 2 * SLOT }, opts()), code('ERR_ALLOC_CONFLICT'));
      await assert.rejects(r.allocate({ name: 'base', kind: 'image', owner: 'tenant-a' }, opts()), code('ERR_ALLOC_CONFLICT'));
      assert.equal((await r.list()).length, 1);
    } finally {
      await r.close();
    }
  });

  t('a pool of N slots holds exactly N disjoint allocations, then ERR_POOL_EXHAUSTED with free counts', async () => {
    const r = await h.open();
    try {
      const pool = smallPool(24);
      const got: Allocation[] = [];
      for (let i = 0; i < 24; i++) got.push((await r.allocate({ name: `c${i}`, uidPool: pool }, opts(i))).allocation);
      assertDisjoint(got);
      for (const a of got) assert.ok(a.uid.start >= 0x10000000 && a.uid.end <= 0x10000000 + 24 * SLOT);
      await assert.rejects(r.allocate({ name: 'one-more', uidPool: pool }, opts()), (e: unknown) => {
        code('ERR_POOL_EXHAUSTED')(e);
        assert.ok(isFsidmapError(e));
        assert.deepEqual([e.context.freeIds, e.context.largestFreeRun], [0, 0]);
        return true;
      });
      await r.release('c5');
      const back = await r.allocate({ name: 'c5-again', uidPool: pool }, opts());
      assert.deepEqual(back.allocation.uid, got[5].uid, 'the one free slot is the one released');
    } finally {
      await r.close();
    }
  });

  t('a released name re-created lands on its hash slot again', async () => {
    const r = await h.open();
    try {
      const a = (await r.allocate({ name: 'ci-runner' }, opts(1))).allocation;
      await r.release('ci-runner');
      assert.equal(await r.get('ci-runner'), undefined);
      const b = (await r.allocate({ name: 'ci-runner' }, opts(99))).allocation;
      assert.deepEqual(b.uid, a.uid);
    } finally {
      await r.close();
    }
  });

  t('host exclusions are never handed out', async () => {
    const r = await h.open();
    try {
      const pool = smallPool(10);
      // uid 0x10000000+3*SLOT+17 is a real user; slots 0–5 are another user's subuid range; gid slot 8 is a group.
      const ex = hostExclusions(
        {
          users: [{ name: 'ldapuser', id: 0x10000000 + 3 * SLOT + 17 }],
          groups: [{ name: 'g', id: 0x10000000 + 8 * SLOT }],
          subuid: [{ owner: 'alice', start: 0x10000000, end: 0x10000000 + 6 * SLOT }],
          subgid: [],
        },
        { respectSubids: true },
      );
      const got = [];
      for (let i = 0; i < 3; i++) got.push((await r.allocate({ name: `x${i}`, uidPool: pool }, opts(i, ex))).allocation);
      const slots = got.map((a) => (a.uid.start - 0x10000000) / SLOT).sort();
      assert.deepEqual(slots, [6, 7, 9]);
      await assert.rejects(r.allocate({ name: 'x3', uidPool: pool }, opts(3, ex)), code('ERR_POOL_EXHAUSTED'));
    } finally {
      await r.close();
    }
  });

  t('an on-disk range cannot be released while a container uses it (ERR_RANGE_REFERENCED names them)', async () => {
    const r = await h.open();
    try {
      const img = (await r.allocate({ name: 'debian', kind: 'image' }, opts())).allocation;
      assert.equal(img.owner, 'shared');
      const c1 = (await r.allocate({ name: 'c1', fs: 'debian' }, opts())).allocation;
      await r.allocate({ name: 'c2', fs: 'debian' }, opts());
      assert.equal(c1.fs, 'debian');
      assert.deepEqual(
        (await r.references('debian')).users.map((u) => u.name),
        ['c1', 'c2'],
      );
      await assert.rejects(r.release('debian'), (e: unknown) => {
        code('ERR_RANGE_REFERENCED')(e);
        assert.ok(isFsidmapError(e));
        assert.deepEqual(e.context.referencedBy, ['c1', 'c2']);
        return true;
      });
      await r.release('c1');
      await r.release('c2');
      assert.equal((await r.release('debian')).name, 'debian');
      assert.deepEqual(await r.list(), []);
    } finally {
      await r.close();
    }
  });

  t('--fs must name an existing image or volume the container may use', async () => {
    const r = await h.open();
    try {
      await r.allocate({ name: 'ctr', kind: 'container' }, opts());
      await r.allocate({ name: 'private', kind: 'volume', owner: 'tenant-a' }, opts());
      await assert.rejects(r.allocate({ name: 'x', fs: 'missing' }, opts()), code('ERR_FS_NOT_FOUND'));
      await assert.rejects(r.allocate({ name: 'x', fs: 'ctr' }, opts()), code('ERR_FS_INVALID'));
      await assert.rejects(r.allocate({ name: 'x', fs: 'private' }, opts()), code('ERR_FS_OWNER'));
      await assert.rejects(r.allocate({ name: 'x', fs: 'private', owner: 'tenant-b' }, opts()), code('ERR_FS_OWNER'));
      const ok = (await r.allocate({ name: 'x', fs: 'private', owner: 'tenant-a' }, opts())).allocation;
      assert.deepEqual([ok.fs, ok.owner], ['private', 'tenant-a']);
      await assert.rejects(r.allocate({ name: 'x', fs: null, owner: 'tenant-a' }, opts()), code('ERR_ALLOC_CONFLICT'));
    } finally {
      await r.close();
    }
  });

  t('children are carved out of their parent, disjoint among themselves, and keep the parent alive', async () => {
    const r = await h.open();
    try {
      const parent = (await r.allocate({ name: 'node', size: 4 * SLOT }, opts())).allocation;
      const kids: Allocation[] = [];
      for (let i = 0; i < 4; i++) kids.push((await r.allocate({ name: `node/pod${i}`, parent: 'node' }, opts(i))).allocation);
      for (const k of kids) {
        assert.equal(k.parent, 'node');
        assert.ok(k.uid.start >= parent.uid.start && k.uid.end <= parent.uid.end, `${k.name} inside its parent`);
      }
      assertDisjoint(kids);
      await assert.rejects(r.allocate({ name: 'node/pod4', parent: 'node' }, opts()), code('ERR_POOL_EXHAUSTED'));
      await assert.rejects(r.allocate({ name: 'y', parent: 'nope' }, opts()), code('ERR_PARENT_NOT_FOUND'));
      // A top-level allocation never lands inside the parent even though children overlap it.
      const other = await r.allocate({ name: 'other', uidPool: poolOf([parent.uid], 'parent range only') }, opts()).catch((e) => e);
      assert.ok(isFsidmapError(other) && other.code === 'ERR_POOL_EXHAUSTED');
      await assert.rejects(r.release('node'), (e: unknown) => {
        code('ERR_RANGE_REFERENCED')(e);
        assert.ok(isFsidmapError(e));
        assert.deepEqual(e.context.children, ['node/pod0', 'node/pod1', 'node/pod2', 'node/pod3']);
        return true;
      });
      const holders = await r.containing(kids[2].uid.start + 7);
      assert.deepEqual(
        holders.map((a) => a.name),
        ['node', 'node/pod2'],
      );
    } finally {
      await r.close();
    }
  });

  t('realms are independent id spaces; names and ranges may repeat across them', async () => {
    const r = await h.open();
    try {
      const a = (await r.allocate({ name: 'web', realm: 'cluster-a' }, opts())).allocation;
      const b = (await r.allocate({ name: 'web', realm: 'cluster-b' }, opts())).allocation;
      assert.deepEqual(a.uid, b.uid, 'same name, same hash slot, separate realms');
      assert.deepEqual(
        (await r.list({ realm: 'cluster-a' })).map((x) => x.name),
        ['web'],
      );
      assert.deepEqual(await r.list(), []);
      assert.deepEqual(
        (await r.containing(a.uid.start, 'cluster-b')).map((x) => x.realm),
        ['cluster-b'],
      );
      await r.release('web', { realm: 'cluster-a' });
      assert.ok(await r.get('web', 'cluster-b'));
    } finally {
      await r.close();
    }
  });

  t('containing() finds the holder of an id on the uid side and on the gid side, and nothing in a gap', async () => {
    const r = await h.open();
    try {
      const uidPool = smallPool(4, 0x20000000);
      const gidPool = smallPool(4, 0x30000000);
      const a = (await r.allocate({ name: 'split', uidPool, gidPool }, opts())).allocation;
      assert.ok(a.uid.start >= 0x20000000 && a.gid.start >= 0x30000000);
      assert.deepEqual(
        (await r.containing(a.uid.start)).map((x) => x.name),
        ['split'],
      );
      assert.deepEqual(
        (await r.containing(a.gid.end - 1)).map((x) => x.name),
        ['split'],
      );
      assert.deepEqual(await r.containing(a.uid.end), []);
      assert.deepEqual(await r.containing(0x7000), []);
    } finally {
      await r.close();
    }
  });

  t('list is ordered by range and filters by kind; release of an unknown name is ERR_NO_SUCH_ALLOCATION', async () => {
    const r = await h.open();
    try {
      for (const [name, kind] of [
        ['a', 'container'],
        ['b', 'image'],
        ['c', 'volume'],
        ['d', 'container'],
      ] as const) {
        await r.allocate({ name, kind }, opts());
      }
      const all = await r.list();
      assert.equal(all.length, 4);
      for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].uid.start < all[i].uid.start);
      assert.deepEqual((await r.list({ kind: 'container' })).map((a) => a.name).sort(), ['a', 'd']);
      await assert.rejects(r.release('zzz'), code('ERR_NO_SUCH_ALLOCATION'));
      await assert.rejects(r.release('a', { realm: 'never-used' }), code('ERR_NO_SUCH_ALLOCATION'));
    } finally {
      await r.close();
    }
  });

  t("two connections allocating in turn never overlap (each sees the other's commits)", async () => {
    const r1 = await h.open('two');
    const r2 = await h.open('two');
    try {
      const pool = smallPool(64);
      for (let i = 0; i < 32; i++) {
        await r1.allocate({ name: `one-${i}`, uidPool: pool }, opts(i));
        await r2.allocate({ name: `two-${i}`, uidPool: pool }, opts(1000 + i));
        if (i % 8 === 7) await r1.release(`two-${i}`);
      }
      const all = await r1.list();
      assert.equal(all.length, 60);
      assertDisjoint(all);
      await assert.rejects(Promise.all([r1.allocate({ name: 'x1', size: 65 * SLOT, uidPool: pool }, opts())]), code('ERR_POOL_EXHAUSTED'));
    } finally {
      await r1.close();
      await r2.close();
    }
  });

  t('holders: recorded at allocation, a different live holder is ERR_ALLOC_HELD, gc frees only the gone', async () => {
    const r = await h.open();
    try {
      const local = { bootId: 'boot-1', machineId: 'machine-1' };
      const h1 = { pid: 100, startTime: 5000, host: 'h', ...local };
      const h2 = { pid: 200, startTime: 6000, host: 'h', ...local };
      const away = { pid: 300, startTime: 7000, host: 'far', bootId: 'b', machineId: 'machine-2' };
      await r.allocate({ name: 'alive', holder: h1 }, opts());
      await r.allocate({ name: 'reused-pid', holder: h2 }, opts());
      await r.allocate({ name: 'rebooted', holder: { ...h1, bootId: 'boot-0' } }, opts());
      await r.allocate({ name: 'remote', holder: away }, opts());
      await r.allocate({ name: 'unheld' }, opts());
      await assert.rejects(r.allocate({ name: 'alive', holder: h2 }, opts()), code('ERR_ALLOC_HELD'));
      await assert.rejects(r.allocate({ name: 'alive', holder: h2 }, { ...opts(), holderGone: () => false }), code('ERR_ALLOC_HELD'));
      assert.deepEqual((await r.allocate({ name: 'alive', holder: h1 }, opts())).allocation.holder, h1);
      // A restarted container takes over the range of its dead predecessor, without a gc in between.
      await r.allocate({ name: 'restarted', holder: h1 }, opts());
      const taken = await r.allocate({ name: 'restarted', holder: h2 }, { ...opts(), holderGone: (h) => h.pid === 100 });
      assert.deepEqual([taken.created, taken.allocation.holder], [false, h2]);
      assert.deepEqual((await r.get('restarted'))?.holder, h2);
      await r.release('restarted');
      const probe: HolderProbe = { local, startTimeOf: (pid) => (pid === 100 ? 5000 : pid === 200 ? 9999 : undefined) };
      const dry = await collectGarbage(r, probe, { dryRun: true });
      assert.deepEqual(dry.released.map((a) => a.name).sort(), ['rebooted', 'reused-pid']);
      assert.equal((await r.list()).length, 5);
      const res = await collectGarbage(r, probe);
      assert.deepEqual(res.released.map((a) => a.name).sort(), ['rebooted', 'reused-pid']);
      assert.equal(res.elsewhere, 1);
      assert.deepEqual((await r.list()).map((a) => a.name).sort(), ['alive', 'remote', 'unheld']);
      await r.setHolder('unheld', h2);
      assert.deepEqual((await r.get('unheld'))?.holder, h2);
      await r.setHolder('unheld', null);
      assert.equal((await r.get('unheld'))?.holder, null);
      await r.allocate({ name: 'img', kind: 'image' }, opts());
      await assert.rejects(r.setHolder('img', h1), code('ERR_USAGE'));
    } finally {
      await r.close();
    }
  });

  t('gc keeps a stale container another one still depends on, and frees children before parents', async () => {
    const r = await h.open();
    try {
      const local = { bootId: 'boot-1', machineId: 'machine-1' };
      const dead = { pid: 1, startTime: 1, host: 'h', ...local };
      const live = { pid: 2, startTime: 2, host: 'h', ...local };
      await r.allocate({ name: 'p', size: 2 * SLOT, holder: dead }, opts());
      await r.allocate({ name: 'p/a', parent: 'p', holder: dead }, opts());
      await r.allocate({ name: 'q', size: 2 * SLOT, holder: dead }, opts());
      await r.allocate({ name: 'q/a', parent: 'q', holder: live }, opts());
      const probe: HolderProbe = { local, startTimeOf: (pid) => (pid === 2 ? 2 : undefined) };
      const res = await collectGarbage(r, probe);
      assert.deepEqual(
        res.released.map((a) => a.name),
        ['p/a', 'p'],
      );
      assert.deepEqual(
        res.kept.map((k) => [k.allocation.name, k.code]),
        [['q', 'ERR_RANGE_REFERENCED']],
      );
    } finally {
      await r.close();
    }
  });

  t('uniform: with the home slot taken, choices spread over every free slot of a nearly full pool', async () => {
    const r = await h.open();
    try {
      const pool = smallPool(40);
      const blockers = IntervalSet.of([{ start: 0x10000000, end: 0x10000000 + 36 * SLOT }]);
      const ex = { uid: blockers, gid: blockers };
      const seen = new Set<number>();
      for (let i = 0; i < 60; i++) {
        const a = (await r.allocate({ name: `u${i}`, uidPool: pool }, opts(i, ex))).allocation;
        seen.add(a.uid.start);
        await r.release(`u${i}`);
      }
      assert.deepEqual(
        [...seen].sort(),
        [36, 37, 38, 39].map((s) => 0x10000000 + s * SLOT),
      );
    } finally {
      await r.close();
    }
  });

  t(
    'changeStamp moves on every allocate, release and holder change, from this connection or another, and stays while nothing happens',
    async () => {
      const r = await h.open('stamp');
      const other = await h.open('stamp');
      try {
        let last = '';
        const fresh = async (what: string, via: Registry = other): Promise<void> => {
          const s = await via.changeStamp();
          assert.notEqual(s, last, `the stamp did not move after ${what}`);
          last = s;
        };
        await fresh('opening');
        assert.equal(await other.changeStamp(), last, 'nothing happened: the same stamp');
        await r.allocate({ name: 'c1' }, opts(1));
        await fresh('an allocation by another connection');
        await other.allocate({ name: 'c2' }, opts(2));
        await fresh('an allocation by this connection');
        const holder = { pid: 42, startTime: 7, bootId: 'b', machineId: 'm', host: 'h' };
        await r.setHolder('c1', holder);
        await fresh('a holder set elsewhere');
        await r.setHolder('c1', { ...holder, pid: 43, startTime: 9 });
        await fresh('a holder replaced elsewhere');
        await r.setHolder('c1', null);
        await fresh('a holder cleared elsewhere');
        await r.release('c2');
        await fresh('a release elsewhere');
        await r.allocate({ name: 'x', realm: 'other-realm' }, opts(3));
        await fresh('an allocation in another realm');
      } finally {
        await r.close();
        await other.close();
      }
    },
  );

  t('draining: a release while mapped keeps the range blocked until a reap finds it free, on its machine and boot only', async () => {
    const r = await h.open('drain');
    const other = await h.open('drain');
    try {
      const pool = smallPool(2);
      const { allocation: web } = await r.allocate({ name: 'web', uidPool: pool, gidPool: pool }, opts(1));
      const mapped = new Set<string>(['web']);
      const here = (bootId = 'boot-1', machineId = 'm-1'): MappedCheck => ({
        bootId,
        machineId,
        mappedBy: (a) => (mapped.has(a.name) ? `namespace 42 maps ${a.name}` : null),
      });
      const rel = await r.release('web', { mapped: here() });
      assert.equal(rel.heldBy, 'namespace 42 maps web');
      assert.equal(rel.draining?.machineId, 'm-1');
      assert.equal(rel.draining?.bootId, 'boot-1');
      const seen = await other.get('web');
      assert.ok(seen?.draining, 'another connection sees it draining');
      assert.deepEqual(
        (await other.list({ draining: true })).map((a) => a.name),
        ['web'],
      );
      assert.deepEqual(await other.list({ draining: false }), []);
      // Its ids are not handed out: the two-slot pool has one slot left, then none.
      const { allocation: b } = await other.allocate({ name: 'b', uidPool: pool, gidPool: pool }, opts(2));
      assert.notDeepEqual(b.uid, web.uid);
      await assert.rejects(other.allocate({ name: 'c', uidPool: pool, gidPool: pool }, opts(3)), code('ERR_POOL_EXHAUSTED'));
      // Releasing again while still mapped: still draining, since unchanged.
      const again = await r.release('web', { mapped: here() });
      assert.equal(again.draining?.since, rel.draining?.since);
      // Another machine's reap cannot judge it; this machine's does, once nothing maps it.
      assert.deepEqual(await other.reap(here('boot-1', 'm-2')), { freed: [], held: [], elsewhere: 1 });
      const held = await other.reap(here());
      assert.deepEqual(
        held.held.map((x) => [x.allocation.name, x.heldBy]),
        [['web', 'namespace 42 maps web']],
      );
      mapped.delete('web');
      const freed = await other.reap(here());
      assert.deepEqual(
        freed.freed.map((a) => [a.name, a.draining]),
        [['web', undefined]],
      );
      assert.equal(await r.get('web'), undefined);
      const { allocation: c } = await r.allocate({ name: 'c', uidPool: pool, gidPool: pool }, opts(5));
      assert.deepEqual(c.uid, web.uid, 'the freed slot is the only one left');
      // An earlier boot's draining range is free: no namespace outlives a reboot.
      mapped.add('c');
      assert.ok((await r.release('c', { mapped: here('boot-0') })).draining);
      assert.deepEqual(
        (await r.reap(here('boot-1'))).freed.map((a) => a.name),
        ['c'],
      );
      // Without a check a release frees at once, as before.
      assert.equal((await r.release('b')).draining, undefined);
    } finally {
      await other.close();
      await r.close();
    }
  });

  t('draining: allocating the name again takes the range back, live, with its ids unchanged', async () => {
    const r = await h.open('revive');
    try {
      const { allocation: a } = await r.allocate({ name: 'img', kind: 'image', owner: 'alice' }, opts(1));
      const check: MappedCheck = { bootId: 'b', machineId: 'm', mappedBy: () => 'still mapped' };
      assert.ok((await r.release('img', { mapped: check })).draining);
      // A draining range is no --fs target.
      await assert.rejects(r.allocate({ name: 'web', fs: 'img', owner: 'alice' }, opts(3)), code('ERR_ALLOC_DRAINING'));
      const back = await r.allocate({ name: 'img', kind: 'image', owner: 'alice' }, opts(2));
      assert.equal(back.created, false);
      assert.deepEqual([back.allocation.uid, back.allocation.draining], [a.uid, undefined]);
      assert.equal((await r.get('img'))!.draining, undefined);
      assert.deepEqual((await r.reap(check)).held, []);
      assert.equal((await r.release('img', { mapped: { ...check, mappedBy: () => null } })).draining, undefined);
      assert.equal(await r.get('img'), undefined);
    } finally {
      await r.close();
    }
  });

  t('read-only: reads answer as a writable connection does, every write is ERR_DB_READ_ONLY and changes nothing', async () => {
    const w = await h.open('ro');
    await w.allocate({ name: 'img', kind: 'image' }, opts(1));
    await w.allocate({ name: 'web', fs: 'img' }, opts(2));
    const ro = await h.open('ro', { readOnly: true });
    try {
      assert.equal(ro.info.readOnly, true);
      assert.equal(w.info.readOnly, false);
      assert.deepEqual(await ro.list(), await w.list());
      assert.deepEqual(await ro.get('web'), await w.get('web'));
      const web = (await w.get('web'))!;
      assert.deepEqual(await ro.containing(web.uid.start + 5), await w.containing(web.uid.start + 5));
      const before = await ro.changeStamp();
      await assert.rejects(ro.allocate({ name: 'new' }, opts(3)), code('ERR_DB_READ_ONLY'));
      await assert.rejects(ro.release('web'), code('ERR_DB_READ_ONLY'));
      await assert.rejects(ro.setHolder('web', null), code('ERR_DB_READ_ONLY'));
      assert.deepEqual((await w.list()).map((a) => a.name).sort(), ['img', 'web']);
      assert.equal(await ro.changeStamp(), before);
      await w.allocate({ name: 'later' }, opts(4));
      assert.notEqual(await ro.changeStamp(), before, "a writer's commit moves the reader's stamp");
      assert.ok(await ro.get('later'), 'and the reader sees it');
    } finally {
      await ro.close();
      await w.close();
    }
  });

  t('pool user: a useradd range 100000:65536 is the pool as it is; the next user at 165536 gets their own', async () => {
    const r = await h.open();
    try {
      const a = poolUser('alice', 1);
      const b = poolUser('bob', 2);
      const got = await r.allocate({ name: 'a0', ...a.pools }, a.options);
      assert.deepEqual(
        [got.allocation.uid, got.allocation.gid],
        [
          { start: 100000, end: 165536 },
          { start: 100000, end: 165536 },
        ],
      );
      const bob = await r.allocate({ name: 'b0', ...b.pools }, b.options);
      assert.deepEqual(
        [bob.allocation.uid, bob.allocation.gid],
        [
          { start: 165536, end: 231072 },
          { start: 165536, end: 231072 },
        ],
      );
      // Released and taken again: the same range (the cache's unblock and block on the anchored grid).
      await r.release('a0');
      assert.deepEqual((await r.allocate({ name: 'a1', ...a.pools }, a.options)).allocation.uid, { start: 100000, end: 165536 });
      const full = await r.allocate({ name: 'a2', ...a.pools }, a.options).catch((e: unknown) => e);
      assert.ok(isFsidmapError(full) && full.code === 'ERR_POOL_EXHAUSTED', `expected ERR_POOL_EXHAUSTED, got ${String(full)}`);
      assert.match(full.message, /\/etc\/subuid ranges of alice has no free uid\+gid range of 65536 ids/);
      assert.match(full.hint ?? '', /fsidmap gc\) or give alice more subordinate ids \(usermod --add-subuids/);
      assertDisjoint(await r.list());
    } finally {
      await r.close();
    }
  });

  t('pool user: 1500000:131072 gives two slots of 65536 at 1500000 and 1565536, then a refusal that names the pool', async () => {
    const r = await h.open();
    try {
      const c = poolUser('carol', 3);
      const starts = [];
      for (const name of ['c0', 'c1']) starts.push((await r.allocate({ name, ...c.pools }, c.options)).allocation.uid.start);
      assert.deepEqual(starts.sort(), [1500000, 1565536]);
      await assert.rejects(r.allocate({ name: 'c2', ...c.pools }, c.options), (e: unknown) => {
        assert.ok(isFsidmapError(e) && e.code === 'ERR_POOL_EXHAUSTED');
        assert.match(e.message, /^\/etc\/subuid ranges of carol has no free/);
        assert.match(e.hint ?? '', /give carol more subordinate ids/);
        return true;
      });
      // One 131072 request takes the whole range once it is free.
      await r.release('c0');
      await r.release('c1');
      const big = await r.allocate({ name: 'c3', size: 2 * SLOT, ...c.pools }, c.options);
      assert.deepEqual(big.allocation.uid, { start: 1500000, end: 1631072 });
    } finally {
      await r.close();
    }
  });
}
