import assert from 'node:assert/strict';
import { test } from 'node:test';
import { remove } from './delete.js';
import { testWorld } from './test-world.js';

test("__check_sticky: the file's owner, the directory's owner, or CAP_FOWNER with owner and group both mapped", () => {
  const w = testWorld();
  const u = w.proc('u', 5, 5);
  const dirOwner = w.proc('o', 6, 6);
  const r = w.proc('r', 0, 0);
  w.vfs.put('/tmp', { type: 'dir', uid: 100006, gid: 100006, mode: 0o1777 });
  for (const f of ['a', 'b', 'c', 'd', 'e']) w.vfs.put(`/tmp/${f}`, { type: 'file', uid: 100007, gid: 100007, mode: 0o666 });
  w.vfs.put('/tmp/mine', { type: 'file', uid: 100005, gid: 100005, mode: 0o600 });
  w.vfs.put('/tmp/gid-unmapped', { type: 'file', uid: 100007, gid: 0, mode: 0o666 });
  assert.equal(remove(w.vfs, u, '/tmp/a', false).errno, 'EPERM');
  assert.equal(remove(w.vfs, u, '/tmp/mine', false).ok, true);
  assert.equal(remove(w.vfs, dirOwner, '/tmp/b', false).ok, true);
  assert.equal(remove(w.vfs, r, '/tmp/c', false).ok, true);
  assert.equal(
    remove(w.vfs, r, '/tmp/gid-unmapped', false).errno,
    'EPERM',
    'capable_wrt_inode_uidgid, not inode_owner_or_capable (the kernel differential caught this)',
  );
});

test('may_delete: write and search on the directory; then type checks; rmdir needs an empty directory', () => {
  const w = testWorld();
  const u = w.proc('u', 5, 5);
  w.vfs.put('/ro', { type: 'dir', uid: 100005, gid: 100005, mode: 0o555 });
  w.vfs.put('/ro/f', { type: 'file', uid: 100005, gid: 100005, mode: 0o644 });
  w.vfs.put('/rw', { type: 'dir', uid: 100005, gid: 100005, mode: 0o755 });
  w.vfs.put('/rw/d', { type: 'dir', uid: 100005, gid: 100005, mode: 0o755 });
  w.vfs.put('/rw/d/x', { type: 'file', uid: 100005, gid: 100005, mode: 0o644 });
  w.vfs.put('/rw/f', { type: 'file', uid: 100005, gid: 100005, mode: 0o644 });
  assert.equal(remove(w.vfs, u, '/ro/f', false).errno, 'EACCES');
  assert.equal(remove(w.vfs, u, '/rw/d', false).errno, 'EISDIR');
  assert.equal(remove(w.vfs, u, '/rw/f', true).errno, 'ENOTDIR');
  assert.equal(remove(w.vfs, u, '/rw/d', true).errno, 'ENOTEMPTY');
  assert.equal(remove(w.vfs, u, '/rw/nothing', false).errno, 'ENOENT');
  assert.equal(remove(w.vfs, u, '/rw/d/x', false).ok, true);
  assert.equal(remove(w.vfs, u, '/rw/d', true).ok, true);
});
