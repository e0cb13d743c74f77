import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FS_CAPS } from './caps.js';
import type { Cred } from './cred.js';
import { viewCred } from './cred.js';
import { capsetEffective, setfsid, setgroups, setid, setKeepCaps, setresid } from './setid.js';
import { UsernsSystem } from './system.js';
import type { FsidSemantics } from './namespace.js';

/** A process in a namespace with id maps 0 100000 65536 and (unless off) fsid maps 0 300000 1000. */
function inside(semantics: FsidSemantics = 'v3'): { sys: UsernsSystem; cred: Cred } {
  const sys = new UsernsSystem(semantics);
  const host = sys.spawn('host');
  const h = sys.fork(host, 'h');
  const ns = sys.unshare(h, 'c').value!.ns;
  if (semantics !== 'off') {
    sys.writeMap(host, ns, 'fsuid', '0 300000 1000\n');
    sys.writeMap(host, ns, 'fsgid', '0 300000 1000\n');
  }
  sys.writeMap(host, ns, 'uid', '0 100000 65536\n');
  sys.writeMap(host, ns, 'gid', '0 100000 65536\n');
  return { sys, cred: h.cred };
}

const ok = <T>(o: { ok: boolean; value?: T; reason: string }): T => {
  assert.equal(o.ok, true, o.reason);
  return o.value as T;
};

test('setresuid: the fs uid follows the effective uid through the fsid map (FSID-v2-07)', () => {
  const c = ok(setresid(inside().cred, 'uid', 0, 7, 0));
  assert.deepEqual([c.uid, c.euid, c.suid, c.kfsuid, c.fsuid], [100000, 100007, 100000, 100007, 300007]);
});

test('setresuid: an effective uid without an fsid mapping is EINVAL', () => {
  const r = setresid(inside().cred, 'uid', 2000, 2000, 2000);
  assert.equal(r.errno, 'EINVAL');
});

test('setresuid: -1 keeps the effective uid and translates it with kuid_to_kfsuid', () => {
  const c = ok(setresid(ok(setresid(inside().cred, 'uid', 0, 0, 0)), 'uid', 3, -1, -1));
  assert.deepEqual([c.uid, c.euid, c.fsuid], [100003, 100000, 300000]);
});

test('setuid: without CAP_SETUID only the real or saved uid', () => {
  const c = ok(setresid(ok(setresid(inside().cred, 'uid', 0, 0, 0)), 'uid', 5, 5, 6));
  assert.equal(c.capEffective.size, 0, 'cap_emulate_setxuid: every uid left root');
  assert.equal(setid(c, 'uid', 7).errno, 'EPERM');
  const six = ok(setid(c, 'uid', 6));
  assert.deepEqual([six.uid, six.euid, six.suid, six.fsuid], [100005, 100006, 100006, 300006]);
});

test('cap_emulate_setxuid: a process whose kernel ids are not the namespace root keeps its capabilities when it sets a uid', () => {
  // The holder still has host root's kuid 0, which is not c's root (k100000): nothing to drop, as in the kernel.
  const c = ok(setresid(inside().cred, 'uid', 5, 5, 5));
  assert.equal(c.capEffective.size, 41);
  const viaRoot = ok(setresid(ok(setresid(inside().cred, 'uid', 0, 0, 0)), 'uid', 5, 5, 5));
  assert.equal(viaRoot.capEffective.size, 0);
  assert.equal(viaRoot.capPermitted.size, 0);
});

test('cap_emulate_setxuid: keepcaps keeps the permitted set, the effective set still goes', () => {
  const root = ok(setresid(inside().cred, 'uid', 0, 0, 0));
  const c = ok(setresid(setKeepCaps(root, true), 'uid', 5, 5, 5));
  assert.equal(c.capPermitted.size, 41);
  assert.equal(c.capEffective.size, 0);
  assert.equal(ok(capsetEffective(c, new Set(['CAP_CHOWN']))).capEffective.has('CAP_CHOWN'), true);
  assert.equal(capsetEffective(ok(setresid(root, 'uid', 5, 5, 5)), new Set(['CAP_CHOWN'])).errno, 'EPERM', 'not in permitted');
});

test('setfsuid: an unmapped id (id map or fsid map) changes nothing and returns the previous fs uid', () => {
  const root = ok(setresid(inside().cred, 'uid', 0, 0, 0));
  for (const id of [70000, 2000]) {
    const r = setfsid(root, 'uid', id);
    assert.equal(r.ok, true);
    assert.equal(r.previous, 0);
    assert.equal(r.value, root);
  }
});

test('cap_task_fix_setuid(LSM_SETID_FS): fs capabilities leave when the fs uid leaves root and return with it', () => {
  const root = ok(setresid(inside().cred, 'uid', 0, 0, 0));
  const five = setfsid(root, 'uid', 5);
  assert.equal(five.previous, 0);
  for (const c of FS_CAPS) assert.equal(five.value!.capEffective.has(c), false, c);
  assert.equal(five.value!.capEffective.has('CAP_KILL'), true, 'other capabilities stay');
  const back = setfsid(five.value!, 'uid', 0);
  assert.equal(back.previous, 5);
  assert.equal(back.value!.capEffective.size, 41);
});

test('setfsuid: without CAP_SETUID only one of the current ids', () => {
  const user = ok(setresid(ok(setresid(inside().cred, 'uid', 0, 0, 0)), 'uid', 5, 5, 5));
  assert.equal(setfsid(user, 'uid', 0).value, user);
  assert.equal(viewCred(setfsid(user, 'uid', 5).value!).uid[3], 5);
});

test('setgroups: needs a written gid_map, setgroups allow and CAP_SETGID; each group through both maps', () => {
  const root = ok(setresid(inside().cred, 'uid', 0, 0, 0));
  const c = ok(setgroups(root, [7, 3]));
  assert.deepEqual(c.groups, [100003, 100007]);
  assert.deepEqual(c.fsgroups, [300003, 300007]);
  assert.equal(setgroups(root, [2000]).errno, 'EINVAL', 'no fsgid mapping');
  assert.equal(setgroups(root, [70000]).errno, 'EINVAL', 'no gid mapping');
  const user = ok(setresid(root, 'uid', 5, 5, 5));
  assert.equal(setgroups(user, [5]).errno, 'EPERM');
});

test('semantics off: fs ids always equal their id-map twins', () => {
  const c = ok(setresid(ok(setresid(inside('off').cred, 'uid', 0, 0, 0)), 'uid', 4000, 4000, 4000));
  assert.equal(c.fsuid, c.kfsuid);
  assert.equal(c.fsuid, 104000);
});

test('v2: with no fsid map the fs uid falls back to the id map', () => {
  const sys = new UsernsSystem('v2');
  const host = sys.spawn('host');
  const h = sys.fork(host, 'h');
  const ns = sys.unshare(h, 'c').value!.ns;
  sys.writeMap(host, ns, 'uid', '0 100000 65536\n');
  sys.writeMap(host, ns, 'gid', '0 100000 65536\n');
  assert.equal(ok(setresid(h.cred, 'uid', 9, 9, 9)).fsuid, 100009);
});
