import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMap } from '../idmap/index.js';
import { ACL_TAG, ACL_UNDEFINED_ID, encodeAcl, encodeCap } from '../ownership/xattr-codec.js';
import { ACTION, type EntryXattrs, type TreeColumns, planShift, plannedActions, reconcileAction, treeFingerprint } from './plan.js';

const F = 0o100000,
  D = 0o040000,
  L = 0o120000;
interface Row {
  path: string;
  mode: number;
  uid: number;
  gid: number;
  nlink?: number;
  ino?: number;
  x?: EntryXattrs;
}

function cols(rows: Row[]): TreeColumns {
  const xattrs = new Map<number, EntryXattrs>();
  rows.forEach((r, i) => {
    if (r.x) xattrs.set(i, r.x);
  });
  return {
    paths: rows.map((r) => r.path),
    uid: Uint32Array.from(rows, (r) => r.uid),
    gid: Uint32Array.from(rows, (r) => r.gid),
    mode: Uint32Array.from(rows, (r) => r.mode),
    nlink: Uint32Array.from(rows, (r) => r.nlink ?? 1),
    ino: Float64Array.from(rows, (r, i) => r.ino ?? i + 100),
    dev: new Float64Array(rows.length),
    xattrs,
  };
}

const MAP = parseMap('0 100000 65536\n');
const acl = (uid: number, gid: number) =>
  encodeAcl([
    { tag: ACL_TAG.USER_OBJ, perm: 7, id: ACL_UNDEFINED_ID },
    { tag: ACL_TAG.USER, perm: 5, id: uid },
    { tag: ACL_TAG.GROUP_OBJ, perm: 5, id: ACL_UNDEFINED_ID },
    { tag: ACL_TAG.GROUP, perm: 5, id: gid },
    { tag: ACL_TAG.MASK, perm: 7, id: ACL_UNDEFINED_ID },
    { tag: ACL_TAG.OTHER, perm: 0, id: ACL_UNDEFINED_ID },
  ]);
const v3 = (root: number) => encodeCap({ revision: 3, flags: 1, permitted: [0x2000, 0], inheritable: [0, 0], rootId: root });
const v2 = encodeCap({ revision: 2, flags: 1, permitted: [0x2000, 0], inheritable: [0, 0], rootId: null });

test('plan: which steps each kind of entry gets', () => {
  const table: Array<[string, Row, number]> = [
    ['plain file: chown only', { path: 'f', mode: F | 0o644, uid: 5, gid: 5 }, ACTION.CHOWN],
    ['setuid file: chown, then chmod to restore the bit', { path: 's', mode: F | 0o4755, uid: 0, gid: 0 }, ACTION.CHOWN | ACTION.CHMOD],
    ['setgid file without group exec: restored too', { path: 'g', mode: F | 0o2644, uid: 0, gid: 0 }, ACTION.CHOWN | ACTION.CHMOD],
    ['setgid directory: chown keeps it, no chmod', { path: 'd', mode: D | 0o2775, uid: 0, gid: 0 }, ACTION.CHOWN],
    ['symlink: lchown only, never chmod', { path: 'l', mode: L | 0o777, uid: 1, gid: 1 }, ACTION.CHOWN],
    [
      'v2 capability: set again after chown (chown removes it)',
      { path: 'c', mode: F | 0o755, uid: 0, gid: 0, x: { capability: v2 } },
      ACTION.CHOWN | ACTION.CAPABILITY,
    ],
    ['ACL ids move', { path: 'a', mode: F | 0o644, uid: 0, gid: 0, x: { aclAccess: acl(1000, 50) } }, ACTION.CHOWN | ACTION.ACL_ACCESS],
  ];
  for (const [name, row, flags] of table) {
    const r = planShift(cols([row]), MAP, 'down', { kind: 'refuse' });
    assert.ok(r.ok, name);
    if (r.ok) assert.equal(plannedActions(r.plan)[0]?.flags, flags, name);
  }
});

test('plan: an entry whose ids do not move needs no chown, so its setuid bit and capability are never touched', () => {
  const r = planShift(
    cols([{ path: 's', mode: F | 0o4755, uid: 100000, gid: 100000, x: { capability: v3(100000) } }]),
    parseMap('100000 100000 65536\n'),
    'down',
    { kind: 'refuse' },
  );
  assert.ok(r.ok);
  if (r.ok) {
    assert.equal(plannedActions(r.plan).length, 0);
    assert.equal(r.stats.unchanged, 1);
  }
});

test('plan: a v3 root id moves with the uid map; a v2 capability is scoped to MAP(0) as the kernel would, or kept v2 on request', () => {
  const rows = cols([
    { path: 'c3', mode: F | 0o755, uid: 0, gid: 0, x: { capability: v3(1000) } },
    { path: 'c2', mode: F | 0o755, uid: 0, gid: 0, x: { capability: v2 } },
  ]);
  const r = planShift(rows, MAP, 'down', { kind: 'refuse' });
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(Buffer.from(plannedActions(r.plan)[0].after.capability as Uint8Array).readUInt32LE(20), 101000);
  assert.deepEqual(plannedActions(r.plan)[1].after.capability, v3(100000));
  const kept = planShift(rows, MAP, 'down', { kind: 'refuse' }, 'keep-v2');
  assert.ok(kept.ok);
  if (kept.ok) assert.deepEqual(plannedActions(kept.plan)[1].after.capability, v2);
});

test('plan: a v2 capability stays v2 where MAP(0) is 0, and where MAP does not cover 0 (even with --unmapped ID)', () => {
  const c2 = (uid: number) => cols([{ path: 'c2', mode: F | 0o755, uid, gid: uid, x: { capability: v2 } }]);
  const same = planShift(c2(5), parseMap('0 0 1\n5 100005 1\n'), 'down', { kind: 'refuse' });
  assert.ok(same.ok);
  if (same.ok) assert.deepEqual(plannedActions(same.plan)[0].after.capability, v2);
  // Reverse of a tree at 100000: MAP read up covers 100000.., not 0.
  const reverse = planShift(c2(100000), MAP, 'up', { kind: 'overflow', id: 65534 });
  assert.ok(reverse.ok);
  if (!reverse.ok) return;
  assert.equal(plannedActions(reverse.plan)[0].newUid, 0);
  assert.deepEqual(plannedActions(reverse.plan)[0].after.capability, v2);
  assert.deepEqual(reverse.kept, []);
});

test('plan: --reverse reads the map from the second column', () => {
  const r = planShift(cols([{ path: 'f', mode: F | 0o644, uid: 100007, gid: 100008 }]), MAP, 'up', { kind: 'refuse' });
  assert.ok(r.ok);
  if (r.ok) assert.deepEqual([plannedActions(r.plan)[0].newUid, plannedActions(r.plan)[0].newGid], [7, 8]);
});

test('plan: hard links are planned once per inode', () => {
  const r = planShift(
    cols([
      { path: 'a', mode: F | 0o644, uid: 1, gid: 1, nlink: 2, ino: 9 },
      { path: 'b', mode: F | 0o644, uid: 1, gid: 1, nlink: 2, ino: 9 },
    ]),
    MAP,
    'down',
    { kind: 'refuse' },
  );
  assert.ok(r.ok);
  if (r.ok) {
    assert.equal(plannedActions(r.plan).length, 1);
    assert.equal(r.stats.hardLinks, 1);
  }
});

test('plan: unmapped owners, ACL ids and cap root ids are refused and merged into ranges', () => {
  const r = planShift(
    cols([
      { path: 'x', mode: F | 0o644, uid: 70000, gid: 0 },
      { path: 'y', mode: F | 0o644, uid: 70001, gid: 0 },
      { path: 'z', mode: F | 0o644, uid: 0, gid: 0, x: { aclAccess: acl(1, 80000), capability: v3(90000) } },
    ]),
    MAP,
    'down',
    { kind: 'refuse' },
  );
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.deepEqual(
      r.unmapped.map((u) => [u.kind, u.start, u.end, u.where, u.entries, u.example]),
      [
        ['uid', 70000, 70002, 'owner', 2, 'x'],
        ['uid', 90000, 90001, 'capability', 1, 'z'],
        ['gid', 80000, 80001, 'acl', 1, 'z'],
      ],
    );
  }
});

test('plan: --unmapped keep and --unmapped ID', () => {
  const rows = [{ path: 'x', mode: F | 0o644, uid: 70000, gid: 3 }];
  const keep = planShift(cols(rows), MAP, 'down', { kind: 'keep' });
  assert.ok(keep.ok);
  if (keep.ok) {
    assert.deepEqual([plannedActions(keep.plan)[0].newUid, plannedActions(keep.plan)[0].newGid], [70000, 100003]);
    assert.equal(keep.kept.length, 1);
  }
  const over = planShift(cols(rows), MAP, 'down', { kind: 'overflow', id: 65534 });
  assert.ok(over.ok);
  if (over.ok) assert.equal(plannedActions(over.plan)[0].newUid, 65534);
});

test('reconcile: each step is judged done, still to do, or a conflict', () => {
  const planned = planShift(
    cols([{ path: 's', mode: F | 0o4755, uid: 0, gid: 0, ino: 5, x: { capability: v2, aclAccess: acl(1, 2) } }]),
    MAP,
    'down',
    { kind: 'refuse' },
  );
  assert.ok(planned.ok);
  if (!planned.ok) return;
  const a = plannedActions(planned.plan)[0];
  const all = ACTION.CHOWN | ACTION.CHMOD | ACTION.CAPABILITY | ACTION.ACL_ACCESS;
  const newAcl = a.after.aclAccess as Uint8Array;
  const table: Array<[string, Parameters<typeof reconcileAction>[1], { flags: number } | { conflict: string }]> = [
    [
      'untouched: everything to do',
      { ino: 5, dev: 0, uid: 0, gid: 0, mode: F | 0o4755, xattrs: { capability: v2, aclAccess: acl(1, 2) } },
      { flags: all },
    ],
    [
      'chowned, killed before chmod: bit and capability gone',
      { ino: 5, dev: 0, uid: 100000, gid: 100000, mode: F | 0o755, xattrs: { aclAccess: acl(1, 2) } },
      { flags: ACTION.CHMOD | ACTION.CAPABILITY | ACTION.ACL_ACCESS },
    ],
    [
      'all done',
      { ino: 5, dev: 0, uid: 100000, gid: 100000, mode: F | 0o4755, xattrs: { capability: a.after.capability, aclAccess: newAcl } },
      { flags: 0 },
    ],
    ['owner changed by someone else', { ino: 5, dev: 0, uid: 7, gid: 0, mode: F | 0o4755, xattrs: {} }, { conflict: 'owner' }],
    ['replaced by another inode', { ino: 6, dev: 0, uid: 0, gid: 0, mode: F | 0o4755, xattrs: {} }, { conflict: 'replaced' }],
    ['same inode number on another device', { ino: 5, dev: 2049, uid: 0, gid: 0, mode: F | 0o4755, xattrs: {} }, { conflict: 'replaced' }],
    [
      'mode changed beyond the bits chown clears',
      { ino: 5, dev: 0, uid: 100000, gid: 100000, mode: F | 0o700, xattrs: {} },
      { conflict: 'mode' },
    ],
    [
      'ACL neither before nor after',
      { ino: 5, dev: 0, uid: 100000, gid: 100000, mode: F | 0o4755, xattrs: { aclAccess: acl(9, 9) } },
      { conflict: 'aclAccess' },
    ],
  ];
  for (const [name, now, want] of table) assert.deepEqual(reconcileAction(a, now), want, name);
});

test('fingerprint: depends on which inode has which owner, not on path order', () => {
  const a = cols([
    { path: 'a', mode: F, uid: 1, gid: 2, ino: 10 },
    { path: 'b', mode: F, uid: 3, gid: 4, ino: 11 },
  ]);
  const b = cols([
    { path: 'b', mode: F, uid: 3, gid: 4, ino: 11 },
    { path: 'a', mode: F, uid: 1, gid: 2, ino: 10 },
  ]);
  assert.equal(treeFingerprint(a, a.uid, a.gid), treeFingerprint(b, b.uid, b.gid));
  const swapped = Uint32Array.from([3, 1]);
  assert.notEqual(treeFingerprint(a, swapped, a.gid), treeFingerprint(a, a.uid, a.gid));
});
