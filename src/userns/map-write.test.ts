import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatInline } from '../idmap/index.js';
import { setresid } from './setid.js';
import { UsernsSystem } from './system.js';
import type { FsidSemantics } from './namespace.js';

function world(semantics: FsidSemantics = 'v3') {
  const sys = new UsernsSystem(semantics);
  const host = sys.spawn('host');
  const holder = sys.fork(host, 'holder');
  const ns = sys.unshare(holder, 'c').value!.ns;
  return { sys, host, holder, ns };
}

test("proc_uid_map_write: the initial namespace's maps are never writable", () => {
  const { sys, host } = world();
  const r = sys.writeMap(host, sys.init, 'uid', '0 0 1\n');
  assert.equal(r.errno, 'EPERM');
  assert.equal(r.rule, 'proc_uid_map_write');
});

test('proc_uid_map_write: the writer must be in the target namespace or its parent', () => {
  const { sys, host, ns } = world();
  sys.writeMap(host, ns, 'uid', '0 100000 65536\n');
  sys.writeMap(host, ns, 'gid', '0 100000 65536\n');
  const inC = sys.fork(host, 'x');
  const sibling = sys.unshare(sys.fork(host, 'y'), 'sib').value!.ns;
  inC.cred = sys.task('holder')!.cred;
  const r = sys.writeMap(inC, sibling, 'uid', '0 100000 1\n');
  assert.equal(r.errno, 'EPERM');
  assert.match(r.reason, /neither sib nor its parent/);
});

test('map_write: CAP_SYS_ADMIN over the target is checked before parsing (EPERM beats EINVAL)', () => {
  const { sys, host, ns } = world();
  const user = sys.spawn('user', {
    ...host.cred,
    uid: 1000,
    euid: 1000,
    suid: 1000,
    fsuid: 1000,
    kfsuid: 1000,
    capEffective: new Set(),
    capPermitted: new Set(),
  });
  const r = sys.writeMap(user, ns, 'uid', 'garbage\n');
  assert.equal(r.errno, 'EPERM');
  assert.equal(r.rule, 'map_write');
});

test('v3: an fsid map written after the id map is refused (the mirrored map is already there: EPERM before parsing)', () => {
  const { sys, host, ns } = world('v3');
  assert.equal(sys.writeMap(host, ns, 'uid', '0 100000 65536\n').ok, true);
  const r = sys.writeMap(host, ns, 'fsuid', '0 300000 65536\n');
  assert.equal(r.errno, 'EPERM');
  assert.match(r.reason, /fsid maps must be written first/);
  assert.equal(sys.writeMap(host, ns, 'fsuid', '0 1\n').errno, 'EPERM', 'write-once is checked before the parse');
});

test('v2 allows fsid maps in any order and never mirrors', () => {
  const { sys, host, ns } = world('v2');
  const id = sys.writeMap(host, ns, 'uid', '0 100000 65536\n');
  assert.equal(id.value!.mirrored, null);
  assert.equal(ns.isWritten('fsuid'), false);
  assert.equal(sys.writeMap(host, ns, 'fsuid', '0 300000 65536\n').ok, true);
});

test('semantics off: there is no fsuid_map file (ENOENT)', () => {
  const { sys, host, ns } = world('off');
  assert.equal(sys.writeMap(host, ns, 'fsuid', '0 300000 65536\n').errno, 'ENOENT');
});

test("idmap_to_fsidmap: an id map written while the fsid map is empty is mirrored through the parent's fsid map", () => {
  const { sys, host, ns } = world('v3');
  sys.writeMap(host, ns, 'fsuid', '0 300000 100000\n');
  sys.writeMap(host, ns, 'fsgid', '0 300000 100000\n');
  sys.writeMap(host, ns, 'uid', '0 100000 100000\n');
  sys.writeMap(host, ns, 'gid', '0 100000 100000\n');
  const root = sys.fork(sys.task('holder')!, 'root');
  root.cred = setresid(setresid(root.cred, 'gid', 0, 0, 0).value!, 'uid', 0, 0, 0).value!;
  const child = sys.unshare(sys.fork(root, 'h2'), 'c2').value!.ns;
  const r = sys.writeMap(root, child, 'uid', '0 10000 65536\n');
  assert.equal(formatInline(r.value!.installed), '0:110000:65536');
  assert.equal(formatInline(r.value!.mirrored!), '0:310000:65536', 'v3-06: NS2 root lands at 310000');
});

test("map_into_kids: a mirrored map outside the parent's fsid map fails the whole write", () => {
  const { sys, host, ns } = world('v3');
  sys.writeMap(host, ns, 'fsuid', '0 300000 1000\n');
  sys.writeMap(host, ns, 'uid', '0 100000 65536\n');
  sys.writeMap(host, ns, 'fsgid', '0 300000 1000\n');
  sys.writeMap(host, ns, 'gid', '0 100000 65536\n');
  const root = sys.fork(sys.task('holder')!, 'root');
  root.cred = setresid(setresid(root.cred, 'gid', 0, 0, 0).value!, 'uid', 0, 0, 0).value!;
  const child = sys.unshare(sys.fork(root, 'h2'), 'c2').value!.ns;
  const r = sys.writeMap(root, child, 'uid', '0 5000 10\n');
  assert.equal(r.errno, 'EPERM');
  assert.equal(r.rule, 'map_into_kids');
  assert.equal(child.isWritten('uid'), false, 'nothing installed');
});

test('verify_root_map: a process writing its own map after unshare --map-root-user relies on parent_could_setfcap', () => {
  const { sys, holder, ns } = world('off');
  // Host root unshared (held CAP_SETFCAP): mapping the parent's 0 from inside, without CAP_SETUID over init, is allowed.
  const r = sys.writeMap(holder, ns, 'uid', '0 0 1\n');
  assert.equal(r.ok, true, r.reason);
});

test("verify_root_map: without CAP_SETFCAP at unshare time, mapping the parent's 0 is refused", () => {
  const sys = new UsernsSystem('off');
  const host = sys.spawn('host');
  const p = sys.fork(host, 'p');
  p.cred = { ...p.cred, capEffective: new Set([...p.cred.capEffective].filter((c) => c !== 'CAP_SETFCAP')) };
  const ns = sys.unshare(p, 'c').value!.ns;
  assert.equal(ns.parentCouldSetfcap, false);
  const r = sys.writeMap(p, ns, 'uid', '0 0 1\n');
  assert.equal(r.errno, 'EPERM');
  assert.match(r.rule, /needs-setfcap/);
});

test('new_idmap_permitted: the unprivileged single-id rule (own euid, count 1, owner)', () => {
  const sys = new UsernsSystem('v3');
  const host = sys.spawn('host');
  const user = sys.fork(host, 'user');
  user.cred = setresid(setresid(user.cred, 'gid', 1000, 1000, 1000).value!, 'uid', 1000, 1000, 1000).value!;
  const ns = sys.unshare(sys.fork(user, 'h'), 'c').value!.ns;
  assert.equal(sys.writeMap(user, ns, 'uid', '0 1001 1\n').errno, 'EPERM', 'not its own id');
  assert.equal(sys.writeMap(user, ns, 'fsuid', '0 1000 2\n').errno, 'EPERM', 'more than one id');
  assert.equal(sys.writeMap(user, ns, 'fsuid', '0 1000 1\n').ok, true, 'its own uid as fsid');
  assert.equal(sys.writeMap(user, ns, 'fsgid', '0 1000 1\n').errno, 'EPERM', 'setgroups still allow');
  assert.equal(sys.writeSetgroups(user, ns, 'deny').ok, true);
  assert.equal(sys.writeMap(user, ns, 'fsgid', '0 1000 1\n').ok, true);
  assert.equal(sys.writeMap(user, ns, 'uid', '0 1000 1\n').ok, true);
});

test('proc_setgroups_write: deny only before gid_map, never allow after deny, short writes only', () => {
  const { sys, host, ns } = world();
  assert.equal(sys.writeSetgroups(host, ns, 'maybe').errno, 'EINVAL');
  assert.equal(sys.writeSetgroups(host, ns, 'allow\n').ok, true);
  sys.writeMap(host, ns, 'gid', '0 100000 10\n');
  assert.equal(sys.writeSetgroups(host, ns, 'deny').errno, 'EPERM');
  const other = world();
  assert.equal(other.sys.writeSetgroups(other.host, other.ns, 'deny').ok, true);
  assert.equal(other.sys.writeSetgroups(other.host, other.ns, 'allow').errno, 'EPERM');
});

test('map_write is write-once for fsid maps too', () => {
  const { sys, host, ns } = world();
  assert.equal(sys.writeMap(host, ns, 'fsgid', '0 300000 10\n').ok, true);
  assert.equal(sys.writeMap(host, ns, 'fsgid', '0 300000 10\n').errno, 'EPERM');
});
