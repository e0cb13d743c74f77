import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeIdmappedMount } from './idmapped.js';
import { create, open, stat } from './ops.js';
import { testWorld } from './test-world.js';

test('stat: an owner the caller cannot map shows as the overflow id 65534', () => {
  const w = testWorld();
  const u = w.proc('u', 0, 0);
  w.vfs.put('/f', { type: 'file', uid: 0, gid: 100003, mode: 0o644 });
  const s = stat(w.vfs, u, '/f').value!;
  assert.deepEqual([s.uid, s.gid, s.diskUid], [65534, 3, 0]);
});

test('inode_init_owner: new files are owned by the fs ids; a setgid directory gives its group, and its setgid bit to new directories', () => {
  const w = testWorld({ fsid: '0 300000 65536' });
  const u = w.proc('u', 5, 5);
  w.vfs.put('/plain', { type: 'dir', uid: 0, gid: 0, mode: 0o777 });
  w.vfs.put('/sgid', { type: 'dir', uid: 0, gid: 0, mode: 0o2777 });
  assert.deepEqual(create(w.vfs, u, '/plain/f', 'file', 0o666).value, { diskUid: 300005, diskGid: 300005, mode: 0o644 });
  assert.deepEqual(create(w.vfs, u, '/sgid/f', 'file', 0o644).value, { diskUid: 300005, diskGid: 0, mode: 0o644 });
  assert.deepEqual(create(w.vfs, u, '/sgid/d', 'dir', 0o755).value, { diskUid: 300005, diskGid: 0, mode: 0o2755 });
});

test('mode_strip_sgid: a group-executable setgid file made in a setgid directory loses setgid unless the creator is in the group or has CAP_FSETID', () => {
  const w = testWorld();
  const u = w.proc('u', 5, 5);
  const member = w.proc('m', 6, 6, { groups: [9] });
  w.vfs.put('/sgid', { type: 'dir', uid: 0, gid: 100009, mode: 0o2777 });
  assert.equal(create(w.vfs, u, '/sgid/a', 'file', 0o2755).value!.mode, 0o755);
  assert.equal(create(w.vfs, member, '/sgid/b', 'file', 0o2755).value!.mode, 0o2755);
  assert.equal(create(w.vfs, u, '/sgid/c', 'file', 0o2745).value!.mode, 0o2745, 'no group x: kept');
});

test('may_o_create: EEXIST first, then EOVERFLOW when the fsuid cannot be stored through an idmapped mount, then directory write access', () => {
  const w = testWorld();
  const hostRoot = w.host;
  const mnt = w.sys.unshare(w.sys.fork(w.host, 'mh'), 'mount').value!.ns;
  w.sys.writeMap(w.host, mnt, 'uid', '300000 100000 65536\n');
  w.sys.writeMap(w.host, mnt, 'gid', '300000 100000 65536\n');
  w.vfs.put('/img', { type: 'dir', uid: 300000, gid: 300000, mode: 0o755 });
  w.vfs.put('/img/exists', { type: 'file', uid: 300000, gid: 300000, mode: 0o644 });
  w.vfs.put('/mnt', { type: 'dir', uid: 0, gid: 0, mode: 0o755 });
  assert.equal(makeIdmappedMount(w.vfs, hostRoot, '/img', '/mnt', mnt).ok, true);
  assert.equal(create(w.vfs, hostRoot, '/mnt/exists', 'file', 0o644).errno, 'EEXIST');
  const r = create(w.vfs, hostRoot, '/mnt/new', 'file', 0o644);
  assert.equal(r.errno, 'EOVERFLOW', 'host root (k0) has no on-disk id through the mount');
  const croot = w.proc('r', 0, 0);
  assert.deepEqual(create(w.vfs, croot, '/mnt/new', 'file', 0o644).value, { diskUid: 300000, diskGid: 300000, mode: 0o644 });
  const cuser = w.proc('u', 5, 5);
  assert.equal(create(w.vfs, cuser, '/mnt/other', 'file', 0o644).errno, 'EACCES');
});

test('can_idmap_mount: host privilege over the filesystem, a namespace with maps, and no idmapping twice', () => {
  const w = testWorld();
  w.vfs.put('/img', { type: 'dir', uid: 0, gid: 0, mode: 0o755 });
  w.vfs.put('/a', { type: 'dir', uid: 0, gid: 0, mode: 0o755 });
  w.vfs.put('/b', { type: 'dir', uid: 0, gid: 0, mode: 0o755 });
  const croot = w.proc('r', 0, 0);
  assert.equal(makeIdmappedMount(w.vfs, w.host, '/img', '/a', w.sys.init).errno, 'EPERM', 'init_user_ns');
  const empty = w.sys.unshare(w.sys.fork(w.host, 'e'), 'empty').value!.ns;
  assert.equal(makeIdmappedMount(w.vfs, w.host, '/img', '/a', empty).errno, 'EINVAL', 'no maps');
  assert.equal(makeIdmappedMount(w.vfs, croot, '/img', '/a', w.ns).errno, 'EPERM', 'container root lacks CAP_SYS_ADMIN over init');
  assert.equal(makeIdmappedMount(w.vfs, w.host, '/img', '/a', w.ns).ok, true);
  assert.equal(makeIdmappedMount(w.vfs, w.host, '/a', '/b', w.ns).errno, 'EPERM', 'already idmapped');
});

test('may_open: directories cannot be opened for write (EISDIR) or exec (EACCES); symlinks are not followed (ELOOP)', () => {
  const w = testWorld();
  const r = w.proc('r', 0, 0);
  w.vfs.put('/d', { type: 'dir', uid: 100000, gid: 100000, mode: 0o777 });
  w.vfs.put('/l', { type: 'symlink', uid: 100000, gid: 100000, mode: 0o777, target: '/d' });
  assert.equal(open(w.vfs, r, '/d', 'write').errno, 'EISDIR');
  assert.equal(open(w.vfs, r, '/d', 'exec').errno, 'EACCES');
  assert.equal(open(w.vfs, r, '/d', 'read').ok, true);
  assert.equal(open(w.vfs, r, '/l', 'read').errno, 'ELOOP');
});
