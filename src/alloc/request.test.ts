import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFsidmapError } from '../errors.js';
import type { Allocation } from './allocation.js';
import { checkName } from './allocation.js';
import { type AllocRequest, checkExisting, checkFsTarget, checkReleasable, childPools, normalizeRequest, ownerFor } from './request.js';

const alloc = (over: Partial<Allocation>): Allocation => ({
  id: 1,
  realm: 'default',
  name: 'x',
  kind: 'container',
  owner: null,
  parent: null,
  fs: null,
  uid: { start: 0x100000, end: 0x110000 },
  gid: { start: 0x100000, end: 0x110000 },
  holder: null,
  createdAt: '2026-01-01T00:00:00Z',
  ...over,
});
const throwsCode = (fn: () => unknown, code: string, label?: string): void => {
  assert.throws(fn, (e: unknown) => isFsidmapError(e) && e.code === code, label);
};

test('request: defaults are a 65536-id container in the default realm and pool', () => {
  const r = normalizeRequest({ name: 'c' });
  assert.deepEqual([r.kind, r.size, r.sizeGiven, r.realm, r.parent, r.holder], ['container', 65536, false, 'default', null, null]);
  assert.equal(r.uidPool, r.gidPool);
  assert.equal(ownerFor(r), null);
  assert.equal(ownerFor(normalizeRequest({ name: 'i', kind: 'image' })), 'shared');
  assert.equal(ownerFor(normalizeRequest({ name: 'v', kind: 'volume', owner: 'tenant-a' })), 'tenant-a');
});

test('request: malformed requests are refused before anything is looked up', () => {
  const cases: [AllocRequest, string][] = [
    [{ name: '' }, 'ERR_USAGE'],
    [{ name: 'has space' }, 'ERR_USAGE'],
    [{ name: '-leading-dash' }, 'ERR_USAGE'],
    [{ name: 'x'.repeat(256) }, 'ERR_USAGE'],
    [{ name: 'c', size: 1000 }, 'ERR_USAGE'],
    [{ name: 'c', size: 0 }, 'ERR_USAGE'],
    [{ name: 'c', size: 2 ** 32 }, 'ERR_USAGE'],
    [{ name: 'c', kind: 'vm' as never }, 'ERR_USAGE'],
    [{ name: 'i', kind: 'image', fs: 'other' }, 'ERR_USAGE'],
    [{ name: 'c', fs: 'c' }, 'ERR_USAGE'],
    [{ name: 'c', parent: 'p', uidPool: { ranges: [{ start: 0, end: 65536 }], label: 'p' } }, 'ERR_USAGE'],
    [{ name: 'i', kind: 'image', holder: { pid: 1, startTime: 1, bootId: 'b', machineId: 'm', host: 'h' } }, 'ERR_USAGE'],
    [{ name: 'c', realm: 'bad realm' }, 'ERR_USAGE'],
  ];
  for (const [req, code] of cases) throwsCode(() => normalizeRequest(req), code, JSON.stringify(req).slice(0, 80));
  assert.equal(checkName('tenant-a/web.1:v2@x+y_z'), 'tenant-a/web.1:v2@x+y_z');
});

test('idempotence: an existing allocation answers a request that asks for nothing it lacks', () => {
  const a = alloc({ name: 'c', kind: 'container', fs: 'img', owner: 't' });
  checkExisting(a, normalizeRequest({ name: 'c' }));
  checkExisting(a, normalizeRequest({ name: 'c', size: 65536, fs: 'img', owner: 't' }));
  throwsCode(() => checkExisting(a, normalizeRequest({ name: 'c', kind: 'image' })), 'ERR_NAME_TAKEN');
  throwsCode(() => checkExisting(a, normalizeRequest({ name: 'c', size: 131072 })), 'ERR_ALLOC_CONFLICT');
  throwsCode(() => checkExisting(a, normalizeRequest({ name: 'c', fs: 'other' })), 'ERR_ALLOC_CONFLICT');
  throwsCode(() => checkExisting(a, normalizeRequest({ name: 'c', fs: null })), 'ERR_ALLOC_CONFLICT');
  throwsCode(() => checkExisting(a, normalizeRequest({ name: 'c', owner: 'u' })), 'ERR_ALLOC_CONFLICT');
  throwsCode(() => checkExisting(a, normalizeRequest({ name: 'c', parent: 'p' })), 'ERR_ALLOC_CONFLICT');
  const held = alloc({ holder: { pid: 5, startTime: 9, bootId: 'b', machineId: 'm', host: 'h' } });
  checkExisting(held, normalizeRequest({ name: 'x', holder: { pid: 5, startTime: 9, bootId: 'b', machineId: 'm', host: 'other-name' } }));
  throwsCode(
    () => checkExisting(held, normalizeRequest({ name: 'x', holder: { pid: 5, startTime: 10, bootId: 'b', machineId: 'm', host: 'h' } })),
    'ERR_ALLOC_HELD',
  );
  checkExisting(held, normalizeRequest({ name: 'x', holder: { pid: 5, startTime: 10, bootId: 'b', machineId: 'm', host: 'h' } }), true);
});

test("--fs: must exist, be on-disk, and be shared or owned by the container's owner", () => {
  const req = (over: Partial<AllocRequest>) => normalizeRequest({ name: 'c', fs: 'img', ...over });
  throwsCode(() => checkFsTarget(req({}), undefined), 'ERR_FS_NOT_FOUND');
  throwsCode(() => checkFsTarget(req({}), alloc({ name: 'img', kind: 'container' })), 'ERR_FS_INVALID');
  checkFsTarget(req({}), alloc({ name: 'img', kind: 'image', owner: 'shared' }));
  checkFsTarget(req({ owner: 't' }), alloc({ name: 'img', kind: 'volume', owner: 't' }));
  throwsCode(() => checkFsTarget(req({}), alloc({ name: 'img', kind: 'image', owner: 't' })), 'ERR_FS_OWNER');
  throwsCode(() => checkFsTarget(req({ owner: 'u' }), alloc({ name: 'img', kind: 'image', owner: 't' })), 'ERR_FS_OWNER');
  checkFsTarget(normalizeRequest({ name: 'c' }), undefined);
});

test("carving: a child's pools are exactly its parent's ranges; only containers have children", () => {
  const req = normalizeRequest({ name: 'p/c', parent: 'p' });
  const { uidPool, gidPool } = childPools(
    req,
    alloc({ name: 'p', uid: { start: 0x200000, end: 0x240000 }, gid: { start: 0x300000, end: 0x340000 } }),
  );
  assert.deepEqual(uidPool.ranges, [{ start: 0x200000, end: 0x240000 }]);
  assert.deepEqual(gidPool.ranges, [{ start: 0x300000, end: 0x340000 }]);
  throwsCode(() => childPools(req, undefined), 'ERR_PARENT_NOT_FOUND');
  throwsCode(() => childPools(req, alloc({ name: 'p', kind: 'image' })), 'ERR_PARENT_INVALID');
});

test('release: refused while referenced, naming every container and child', () => {
  const img = alloc({ name: 'img', kind: 'image' });
  checkReleasable(img, [], []);
  assert.throws(
    () => checkReleasable(img, [alloc({ name: 'c1' }), alloc({ name: 'c2' })], [alloc({ name: 'k' })]),
    (e: unknown) => {
      assert.ok(isFsidmapError(e) && e.code === 'ERR_RANGE_REFERENCED');
      assert.deepEqual([e.context.referencedBy, e.context.children], [['c1', 'c2'], ['k']]);
      return true;
    },
  );
});
