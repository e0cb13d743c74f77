import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chmod, chown, utimes } from './attr.js';
import { makeIdmappedMount } from './idmapped.js';
import { testWorld } from './test-world.js';

test("chown_common: an id the caller's namespace cannot map is EINVAL (through the fsid map with fsid maps)", () => {
  const w = testWorld({ fsid: '0 300000 1000' });
  const r = w.proc('r', 0, 0);
  w.vfs.put('/f', { type: 'file', uid: 300000, gid: 300000, mode: 0o644 });
  assert.equal(chown(w.vfs, r, '/f', 70000, -1).errno, 'EINVAL');
  assert.equal(chown(w.vfs, r, '/f', 2000, -1).errno, 'EINVAL', 'in the id map, not in the fsid map');
  assert.deepEqual(chown(w.vfs, r, '/f', 999, 999).value, { diskUid: 300999, diskGid: 300999, mode: 0o644 });
});

test('chown_ok: the owner may only "change" to itself; CAP_CHOWN needs owner and group mapped', () => {
  const w = testWorld();
  const u = w.proc('u', 5, 5, { groups: [6] });
  const r = w.proc('r', 0, 0);
  w.vfs.put('/mine', { type: 'file', uid: 100005, gid: 100005, mode: 0o644 });
  w.vfs.put('/host', { type: 'file', uid: 0, gid: 100005, mode: 0o644 });
  assert.equal(chown(w.vfs, u, '/mine', 5, -1).ok, true);
  assert.equal(chown(w.vfs, u, '/mine', 7, -1).errno, 'EPERM');
  assert.equal(chown(w.vfs, u, '/mine', -1, 6).ok, true, 'chgrp_ok: to a group the owner is in');
  assert.equal(chown(w.vfs, u, '/mine', -1, 8).errno, 'EPERM');
  assert.equal(chown(w.vfs, r, '/mine', 9, 9).ok, true);
  assert.equal(chown(w.vfs, r, '/host', 9, 9).errno, 'EPERM');
});

test('chown: non-directories lose setuid, and setgid when group-executable', () => {
  const w = testWorld();
  const r = w.proc('r', 0, 0);
  w.vfs.put('/s', { type: 'file', uid: 100000, gid: 100000, mode: 0o6755 });
  w.vfs.put('/g', { type: 'file', uid: 100000, gid: 100000, mode: 0o2745 });
  w.vfs.put('/d', { type: 'dir', uid: 100000, gid: 100000, mode: 0o6755 });
  assert.equal(chown(w.vfs, r, '/s', 0, 0).value!.mode, 0o755);
  assert.equal(chown(w.vfs, r, '/g', 0, 0).value!.mode, 0o2745, 'no group x and root is in the group: kept');
  assert.equal(chown(w.vfs, r, '/d', 1, 1).value!.mode, 0o6755, 'directories keep them');
});

test('notify_change: an inode whose owner the mount cannot map is EOVERFLOW unless the change sets a valid owner', () => {
  const w = testWorld();
  const mnt = w.sys.unshare(w.sys.fork(w.host, 'mh'), 'mount').value!.ns;
  w.sys.writeMap(w.host, mnt, 'uid', '300000 100000 65536\n');
  w.sys.writeMap(w.host, mnt, 'gid', '300000 100000 65536\n');
  w.vfs.put('/img', { type: 'dir', uid: 300000, gid: 300000, mode: 0o755 });
  w.vfs.put('/img/hostfile', { type: 'file', uid: 0, gid: 0, mode: 0o666 });
  w.vfs.put('/mnt', { type: 'dir', uid: 0, gid: 0, mode: 0o755 });
  makeIdmappedMount(w.vfs, w.host, '/img', '/mnt', mnt);
  const r = w.proc('r', 0, 0);
  assert.equal(chmod(w.vfs, r, '/mnt/hostfile', 0o600).errno, 'EOVERFLOW');
  assert.equal(chown(w.vfs, r, '/mnt/hostfile', 0, -1).errno, 'EOVERFLOW', 'the group stays invalid');
  assert.equal(chown(w.vfs, r, '/mnt/hostfile', 0, 0).errno, 'EPERM', 'valid ids, but no CAP_CHOWN over an unmapped owner');
  assert.equal(chown(w.vfs, w.host, '/mnt/hostfile', 0, 0).errno, 'EOVERFLOW', "host root's k0 cannot be stored through the mount");
  assert.equal(utimes(w.vfs, r, '/mnt/hostfile', 'now').errno, 'EACCES', 'HAS_UNMAPPED_ID refuses write access');
});

test('setattr_prepare: chmod needs the owner or CAP_FOWNER over a mapped owner; setgid is dropped outside the group', () => {
  const w = testWorld();
  const u = w.proc('u', 5, 5);
  const r = w.proc('r', 0, 0);
  w.vfs.put('/f', { type: 'file', uid: 100005, gid: 100007, mode: 0o644 });
  w.vfs.put('/h', { type: 'file', uid: 0, gid: 0, mode: 0o644 });
  assert.equal(chmod(w.vfs, u, '/f', 0o2755).value!.mode, 0o755);
  assert.equal(chmod(w.vfs, r, '/f', 0o2755).value!.mode, 0o2755, 'CAP_FSETID');
  assert.equal(chmod(w.vfs, r, '/h', 0o600).errno, 'EPERM');
  assert.equal(chmod(w.vfs, u, '/h', 0o600).errno, 'EPERM');
});

test('utimes: "now" needs ownership or write access, explicit times need ownership or CAP_FOWNER', () => {
  const w = testWorld();
  const u = w.proc('u', 5, 5);
  w.vfs.put('/shared', { type: 'file', uid: 100001, gid: 100001, mode: 0o666 });
  assert.equal(utimes(w.vfs, u, '/shared', 'now').ok, true);
  assert.equal(utimes(w.vfs, u, '/shared', 'set').errno, 'EPERM');
});
