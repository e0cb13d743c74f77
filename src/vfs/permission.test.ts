import assert from 'node:assert/strict';
import { test } from 'node:test';
import { open, stat } from './ops.js';
import { testWorld } from './test-world.js';

test('acl_permission_check: owner, group and other classes; the owner class never falls through', () => {
  const w = testWorld();
  const u = w.proc('u', 5, 5, { groups: [7] });
  const table: Array<[number, number, number, 'read' | 'write', string]> = [
    [100005, 0, 0o600, 'read', 'ok'],
    [100005, 0, 0o066, 'read', 'EACCES'], // owner bits deny even though group/other allow
    [0, 100007, 0o040, 'read', 'ok'], // supplementary group
    [0, 100005, 0o060, 'write', 'ok'], // fsgid
    [0, 100008, 0o604, 'read', 'ok'], // other
    [0, 100008, 0o640, 'read', 'EACCES'],
  ];
  table.forEach(([uid, gid, mode, access, want], i) => {
    w.vfs.put(`/f${i}`, { type: 'file', uid, gid, mode });
    const r = open(w.vfs, u, `/f${i}`, access);
    assert.equal(r.ok ? 'ok' : r.errno, want, `row ${i}: ${r.reason}`);
  });
});

test('posix_acl_permission: named users and groups are limited by the mask; a matching group that denies blocks "other"', () => {
  const w = testWorld();
  const u = w.proc('u', 5, 5, { groups: [9] });
  const acl = (users: Array<[number, number]>, groups: Array<[number, number]>, groupObj = 0) => ({
    users: users.map(([id, perm]) => ({ id, perm })),
    groups: groups.map(([id, perm]) => ({ id, perm })),
    groupObj,
  });
  w.vfs.put('/named', { type: 'file', uid: 0, gid: 0, mode: 0o660, acl: acl([[100005, 6]], []) });
  w.vfs.put('/masked', { type: 'file', uid: 0, gid: 0, mode: 0o640, acl: acl([[100005, 6]], []) });
  w.vfs.put('/group-denies', { type: 'file', uid: 0, gid: 0, mode: 0o674, acl: acl([], [[100009, 0]]) });
  w.vfs.put('/nomatch-other', { type: 'file', uid: 0, gid: 0, mode: 0o674, acl: acl([[100006, 7]], []) });
  assert.equal(open(w.vfs, u, '/named', 'write').ok, true);
  assert.equal(open(w.vfs, u, '/masked', 'write').errno, 'EACCES', 'mask r-- limits rw-');
  assert.equal(open(w.vfs, u, '/masked', 'read').ok, true);
  assert.equal(open(w.vfs, u, '/group-denies', 'read').errno, 'EACCES', 'found in a group: other is not consulted');
  assert.equal(open(w.vfs, u, '/nomatch-other', 'read').ok, true, 'ACL other');
});

test('generic_permission: CAP_DAC_OVERRIDE does not grant exec on a file without any x bit; CAP_DAC_READ_SEARCH grants only reads', () => {
  const w = testWorld();
  const root = w.proc('r', 0, 0);
  const reader = w.proc('rs', 5, 5, { caps: ['CAP_DAC_READ_SEARCH'] });
  w.vfs.put('/noexec', { type: 'file', uid: 100001, gid: 100001, mode: 0o600 });
  w.vfs.put('/someexec', { type: 'file', uid: 100001, gid: 100001, mode: 0o610 });
  assert.equal(open(w.vfs, root, '/noexec', 'exec').errno, 'EACCES');
  assert.equal(open(w.vfs, root, '/someexec', 'exec').ok, true);
  assert.equal(open(w.vfs, root, '/noexec', 'write').ok, true);
  assert.equal(open(w.vfs, reader, '/noexec', 'read').ok, true);
  assert.equal(open(w.vfs, reader, '/noexec', 'rdwr').errno, 'EACCES');
});

test("privileged_wrt_inode_uidgid: capabilities count only when owner and group are both mapped in the caller's namespace", () => {
  const w = testWorld();
  const root = w.proc('r', 0, 0);
  w.vfs.put('/both', { type: 'file', uid: 100001, gid: 100001, mode: 0o600 });
  w.vfs.put('/uid-only', { type: 'file', uid: 100001, gid: 0, mode: 0o600 });
  w.vfs.put('/none', { type: 'file', uid: 0, gid: 0, mode: 0o600 });
  assert.equal(open(w.vfs, root, '/both', 'read').ok, true);
  assert.equal(open(w.vfs, root, '/uid-only', 'read').errno, 'EACCES');
  assert.equal(open(w.vfs, root, '/none', 'read').errno, 'EACCES');
});

test('privileged_wrt_inode_uidgid with fsid maps: mapped means mapped in the fsid map', () => {
  const w = testWorld({ fsid: '0 300000 65536' });
  const root = w.proc('r', 0, 0);
  w.vfs.put('/disk', { type: 'file', uid: 300001, gid: 300001, mode: 0o600 });
  w.vfs.put('/idmapped-range', { type: 'file', uid: 100001, gid: 100001, mode: 0o600 });
  assert.equal(open(w.vfs, root, '/disk', 'write').ok, true);
  assert.equal(open(w.vfs, root, '/idmapped-range', 'write').errno, 'EACCES');
  assert.equal(stat(w.vfs, root, '/idmapped-range').value!.uid, 65534);
});

test('may_lookup: every directory on the path needs search permission', () => {
  const w = testWorld();
  const u = w.proc('u', 5, 5);
  w.vfs.put('/d', { type: 'dir', uid: 100001, gid: 100001, mode: 0o700 });
  w.vfs.put('/d/f', { type: 'file', uid: 100005, gid: 100005, mode: 0o644 });
  const r = stat(w.vfs, u, '/d/f');
  assert.equal(r.errno, 'EACCES');
  assert.equal(r.rule, 'may_lookup');
  assert.equal(stat(w.vfs, u, '/nope/x').errno, 'ENOENT');
  assert.equal(stat(w.vfs, u, '/d').ok, true, 'stat of the directory itself needs no search on it');
});
