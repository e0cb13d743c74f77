import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OwnedIds } from './owned-ids.js';
import { type ComponentFacts, inspectComponent } from './source-policy.js';

const owned: OwnedIds = {
  uid: { own: 1000, subordinate: [[100000, 165536]], allocated: [[500000, 565536]] },
  gid: { own: 1000, subordinate: [[100000, 165536]], allocated: [] },
};
const dir = (over: Partial<ComponentFacts>): ComponentFacts => ({
  path: '/x',
  type: 'directory',
  mode: 0o755,
  uid: 0,
  gid: 0,
  fsType: 'ext4',
  last: false,
  ...over,
});

const rows: Array<[name: string, c: ComponentFacts, rule: string | null]> = [
  ['a root directory above', dir({}), null],
  ['/tmp: world-writable but sticky', dir({ mode: 0o1777 }), null],
  ["the peer's own directory above", dir({ uid: 1000, gid: 1000, mode: 0o700 }), null],
  ['a directory of a subordinate uid above', dir({ uid: 100005, gid: 100005 }), null],
  ['a directory of another user above', dir({ uid: 1001, gid: 1001 }), 'unsafe-parent'],
  ['a root directory writable by everyone, not sticky', dir({ mode: 0o777 }), 'unsafe-parent'],
  ["the peer's directory writable by a group not its own", dir({ uid: 1000, gid: 50, mode: 0o775 }), 'unsafe-parent'],
  ["the peer's directory writable by its own group", dir({ uid: 1000, gid: 1000, mode: 0o775 }), null],
  ['a root directory writable by group root', dir({ mode: 0o775 }), null],
  ['a file above', dir({ type: 'file' }), 'not-a-directory'],
  ['on FUSE', dir({ fsType: 'fuse.sshfs' }), 'untrusted-fs'],
  ['on NFS', dir({ fsType: 'nfs4' }), 'untrusted-fs'],
  ["the source: the peer's directory", dir({ last: true, uid: 1000 }), null],
  ['the source: a directory of an allocated uid', dir({ last: true, uid: 500001 }), null],
  ["the source: a regular file of the peer's (directories only)", dir({ last: true, uid: 100000, type: 'file' }), 'source-type'],
  ["the source: the peer's /proc/PID", dir({ last: true, uid: 1000, fsType: 'proc' }), 'no-idmap-fs'],
  ["the source: the peer's directory on sysfs", dir({ last: true, uid: 1000, fsType: 'sysfs' }), 'no-idmap-fs'],
  ["the source: the peer's directory on tmpfs", dir({ last: true, uid: 1000, fsType: 'tmpfs' }), null],
  ['a mount that appeared during the walk (unknown type)', dir({ fsType: '?' }), 'untrusted-fs'],
  ["the source: root's (/etc)", dir({ last: true }), 'not-owned'],
  ["the source: another user's", dir({ last: true, uid: 1001 }), 'not-owned'],
  ['the source: a uid just past the range', dir({ last: true, uid: 165536 }), 'not-owned'],
  ['the source: a symlink', dir({ last: true, uid: 1000, type: 'symlink' }), 'symlink'],
  ['the source: a device or socket', dir({ last: true, uid: 1000, type: 'other' }), 'source-type'],
];

for (const [name, c, rule] of rows) {
  test(name, () => {
    const r = inspectComponent(c, owned, 1000);
    assert.equal(r?.rule ?? null, rule, r?.reason);
    if (r) assert.ok(r.reason.length > 10);
  });
}
