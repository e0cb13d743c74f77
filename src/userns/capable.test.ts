import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nsCapable } from './capable.js';
import { setresid } from './setid.js';
import { UsernsSystem } from './system.js';

function tree() {
  const sys = new UsernsSystem('v3');
  const host = sys.spawn('host');
  const user = sys.fork(host, 'user');
  user.cred = setresid(setresid(user.cred, 'gid', 1000, 1000, 1000).value!, 'uid', 1000, 1000, 1000).value!;
  const a = sys.fork(user, 'a');
  const nsA = sys.unshare(a, 'A').value!.ns;
  sys.writeMap(host, nsA, 'uid', '0 100000 65536\n');
  sys.writeMap(host, nsA, 'gid', '0 100000 65536\n');
  a.cred = setresid(setresid(a.cred, 'gid', 0, 0, 0).value!, 'uid', 0, 0, 0).value!;
  const b = sys.fork(a, 'b');
  const nsB = sys.unshare(b, 'B').value!.ns;
  const sib = sys.fork(user, 's');
  const nsS = sys.unshare(sib, 'S').value!.ns;
  return { sys, host, user, a, b, nsA, nsB, nsS };
}

test("cap_capable: the effective set counts in the caller's own namespace", () => {
  const { a, nsA } = tree();
  assert.equal(nsCapable(a.cred, nsA, 'CAP_CHOWN').ok, true);
  const dropped = { ...a.cred, capEffective: new Set<never>() };
  assert.equal(nsCapable(dropped, nsA, 'CAP_CHOWN').ok, false);
});

test('cap_capable: the owner of a child namespace holds every capability in it and in its descendants', () => {
  const { user, nsA, nsB } = tree();
  assert.equal(user.cred.capEffective.size, 0, 'an unprivileged host user');
  assert.equal(nsCapable(user.cred, nsA, 'CAP_SYS_ADMIN').ok, true);
  assert.equal(nsCapable(user.cred, nsB, 'CAP_SYS_ADMIN').ok, true, 'B descends from A, which user owns');
});

test('cap_capable: nothing reaches an ancestor or a sibling namespace', () => {
  const { a, b, nsA, nsS, sys } = tree();
  assert.equal(nsCapable(b.cred, nsA, 'CAP_KILL').ok, false, 'parent');
  assert.equal(nsCapable(a.cred, sys.init, 'CAP_KILL').ok, false, 'init');
  assert.equal(nsCapable(a.cred, nsS, 'CAP_KILL').ok, false, 'sibling, though the same user owns both');
});
