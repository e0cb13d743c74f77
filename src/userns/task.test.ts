import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setresid } from './setid.js';
import { UsernsSystem } from './system.js';
import { killOk, ptraceMayAccess } from './task.js';

/** Two containers with distinct id maps but the same fsid map: the isolation the seed wants. */
function containers() {
  const sys = new UsernsSystem('v3');
  const host = sys.spawn('host');
  const mk = (name: string, lower: number) => {
    const h = sys.fork(host, `h-${name}`);
    const ns = sys.unshare(h, name).value!.ns;
    for (const k of ['fsuid', 'fsgid'] as const) sys.writeMap(host, ns, k, '0 300000 65536\n');
    for (const k of ['uid', 'gid'] as const) sys.writeMap(host, ns, k, `0 ${lower} 65536\n`);
    const root = sys.fork(h, `${name}-root`);
    root.cred = setresid(setresid(root.cred, 'gid', 0, 0, 0).value!, 'uid', 0, 0, 0).value!;
    const user = sys.fork(root, `${name}-user`);
    user.cred = setresid(setresid(user.cred, 'gid', 1000, 1000, 1000).value!, 'uid', 1000, 1000, 1000).value!;
    return { root, user };
  };
  return { sys, host, c1: mk('c1', 100000), c2: mk('c2', 200000) };
}

test('kill_ok_by_cred: equal fs ids do not matter, id-map kernel ids do', () => {
  const { c1, c2 } = containers();
  assert.equal(c1.user.cred.fsuid, c2.user.cred.fsuid, 'same fsid identity');
  assert.equal(killOk(c1.user, c2.user).errno, 'EPERM');
  assert.equal(killOk(c1.root, c2.root).errno, 'EPERM');
});

test('kill_ok_by_cred: CAP_KILL over the target namespace, or matching uids', () => {
  const { c1, host } = containers();
  assert.equal(killOk(c1.root, c1.user).ok, true);
  assert.equal(killOk(host, c1.user).ok, true);
  assert.equal(killOk(c1.user, c1.root).errno, 'EPERM');
  assert.equal(killOk(c1.user, c1.user).ok, true);
});

test("__ptrace_may_access: all of the target's ids must match, else CAP_SYS_PTRACE over its namespace", () => {
  const { c1, c2, host } = containers();
  assert.equal(ptraceMayAccess(c2.root, c1.user).errno, 'EPERM');
  assert.equal(ptraceMayAccess(c1.root, c1.user).ok, true);
  assert.equal(ptraceMayAccess(host, c2.user, 'fscreds').ok, true);
  const twin = { ...c1.user, pid: 99, name: 'twin' };
  assert.equal(ptraceMayAccess(twin, c1.user, 'realcreds').ok, true, 'same ids');
  assert.equal(
    ptraceMayAccess(c2.user, c1.user, 'fscreds').errno,
    'EPERM',
    'FSCREDS uses the id-map kfsuid (FSID-v2-27), not the shared fsid',
  );
});
