import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ImageEntry } from './entry.js';
import { inspectEntries } from './inspect.js';

async function* from(entries: ImageEntry[]): AsyncGenerator<ImageEntry> {
  yield* entries;
}

const e = (path: string, over: Partial<ImageEntry> = {}): ImageEntry => ({
  path,
  type: 'file',
  uid: 100000,
  gid: 100000,
  mode: 0o644,
  ...over,
});

test('inspect: ranges, base from the root owner, and ids outside it', async () => {
  const r = await inspectEntries(
    from([
      e('', { type: 'dir', mode: 0o755 }),
      e('a', { uid: 100001 }),
      e('b', { uid: 100002, gid: 100005 }),
      e('c', { uid: 5 }),
      e('d', { aclUids: [101000], aclGids: [70000] }),
    ]),
  );
  assert.equal(r.entries, 5);
  assert.deepEqual(r.uids, [
    { start: 5, end: 6, entries: 1 },
    { start: 100000, end: 100003, entries: 4 },
  ]);
  assert.deepEqual(r.base, {
    uid: 100000,
    gid: 100000,
    size: 65536,
    reason: 'root-owner',
    uidMap: '0 100000 65536',
    gidMap: '0 100000 65536',
  });
  assert.deepEqual(r.outside.uids, [{ start: 5, end: 6, entries: 1 }]);
  assert.deepEqual(r.outside.gids, [{ start: 70000, end: 70001, entries: 1 }]);
  assert.equal(r.acl.count, 1);
});

test('inspect: without a root entry the most common owner is the base', async () => {
  const r = await inspectEntries(
    from([e('x', { uid: 200000, gid: 200000 }), e('y', { uid: 200000, gid: 200000 }), e('z', { uid: 200001, gid: 7 })]),
  );
  assert.equal(r.base.reason, 'most-entries');
  assert.equal(r.base.uid, 200000);
});

test('inspect: setuid/setgid files, capabilities and hard links are counted once per inode', async () => {
  const r = await inspectEntries(
    from([
      e('s', { mode: 0o4755, nlink: 2, ino: 7, dev: 1 }),
      e('s2', { mode: 0o4755, nlink: 2, ino: 7, dev: 1 }),
      e('g', { mode: 0o2755 }),
      e('dir', { type: 'dir', mode: 0o2775 }),
      e('c', { hasCapability: true, capRootId: 100000 }),
      e('c2', { hasCapability: true, capRootId: null }),
      e('h', { type: 'hardlink', linkTarget: 'g' }),
    ]),
  );
  assert.deepEqual([r.setuid.count, r.setgid.count], [1, 1]);
  assert.deepEqual([r.capabilities.count, r.capabilities.namespaced], [2, 1]);
  assert.deepEqual(r.capabilities.rootIds, [{ start: 100000, end: 100001, entries: 1 }]);
  assert.deepEqual([r.hardLinks.count, r.hardLinks.extraNames], [2, 2]);
  assert.equal(r.types.hardlink, 1);
});

test('inspect: an empty image', async () => {
  const r = await inspectEntries(from([]));
  assert.equal(r.entries, 0);
  assert.equal(r.base.reason, 'empty');
});
