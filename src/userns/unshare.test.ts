import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setresid } from './setid.js';
import { UsernsSystem } from './system.js';

test('create_user_ns: nesting stops at level 33 (ENOSPC)', () => {
  const sys = new UsernsSystem('off');
  const host = sys.spawn('host');
  let t = host;
  let level = 0;
  for (;;) {
    const child = sys.fork(t, `t${level + 1}`);
    const r = sys.unshare(child, `n${level + 1}`);
    if (!r.ok) {
      assert.equal(r.errno, 'ENOSPC');
      break;
    }
    level = r.value!.ns.level;
    // Map the creator's ids so the next creator is mapped (create_user_ns EPERM otherwise).
    sys.writeMap(t, r.value!.ns, 'uid', '0 0 1\n');
    sys.writeSetgroups(t, r.value!.ns, 'deny');
    sys.writeMap(t, r.value!.ns, 'gid', '0 0 1\n');
    t = child;
  }
  assert.equal(level, 33);
});

test('create_user_ns: a creator whose euid is unmapped in its namespace is refused (EPERM)', () => {
  const sys = new UsernsSystem('v3');
  const host = sys.spawn('host');
  const a = sys.fork(host, 'a');
  sys.unshare(a, 'A');
  const r = sys.unshare(sys.fork(a, 'b'), 'B');
  assert.equal(r.errno, 'EPERM', "A has no maps: a's kuid 0 is unmapped there");
});

test("create_user_ns: the new namespace is owned by the creator's euid; the creator gets full capabilities inside", () => {
  const sys = new UsernsSystem('v3');
  const host = sys.spawn('host');
  const u = sys.fork(host, 'u');
  u.cred = setresid(setresid(u.cred, 'gid', 1000, 1000, 1000).value!, 'uid', 1000, 1000, 1000).value!;
  assert.equal(u.cred.capEffective.size, 0);
  const r = sys.unshare(u, 'U');
  assert.equal(r.value!.ns.owner, 1000);
  assert.equal(u.cred.capEffective.size, 41);
  assert.equal(r.value!.ns.parentCouldSetfcap, false);
});
