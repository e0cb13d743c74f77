import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ACL_GROUP, ACL_USER, readCapabilityRoot, readPosixAclIds, rewriteCapabilityRoot, rewritePosixAclIds } from './xattr-ids.js';

function acl(entries: Array<[number, number, number]>): Buffer {
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => { b.writeUInt16LE(tag, 4 + 8 * i); b.writeUInt16LE(perm, 6 + 8 * i); b.writeUInt32LE(id, 8 + 8 * i); });
  return b;
}

test('posix_acl xattr: only ACL_USER and ACL_GROUP ids move, through their own maps', () => {
  const v = acl([[1, 6, 0xffffffff], [ACL_USER, 7, 1234], [4, 4, 0xffffffff], [ACL_GROUP, 4, 2345], [0x10, 7, 0xffffffff], [0x20, 4, 0xffffffff]]);
  const out = rewritePosixAclIds(v, (id) => id + 100000, (id) => id + 200000)!;
  assert.deepEqual(readPosixAclIds(out), { users: [101234], groups: [202345] });
  assert.equal(out.length, v.length);
  for (let i = 0; i < v.length; i++) if (!(i >= 16 && i < 20) && !(i >= 32 && i < 36)) assert.equal(out[i], v[i], `byte ${i} untouched`);
  assert.equal(readPosixAclIds(Buffer.from([1, 0, 0, 0])), undefined, 'wrong version');
  assert.equal(rewritePosixAclIds(Buffer.alloc(7), (x) => x, (x) => x), undefined, 'wrong length');
});

test('security.capability: v3 rootid moves, v2 has none and stays, malformed is reported', () => {
  const v3 = Buffer.alloc(24);
  v3.writeUInt32LE(0x03000001, 0);
  v3.writeUInt32LE(0x2000, 4);
  v3.writeUInt32LE(5000, 20);
  assert.deepEqual(readCapabilityRoot(v3), { kind: 'v3', rootid: 5000 });
  const out = rewriteCapabilityRoot(v3, (id) => id + 100000)!;
  assert.deepEqual(readCapabilityRoot(out), { kind: 'v3', rootid: 105000 });
  assert.ok(out.subarray(0, 20).equals(v3.subarray(0, 20)));
  const v2 = Buffer.alloc(20);
  v2.writeUInt32LE(0x02000001, 0);
  assert.deepEqual(readCapabilityRoot(v2), { kind: 'v1-v2' });
  assert.ok(rewriteCapabilityRoot(v2, () => 1)!.equals(v2));
  assert.deepEqual(readCapabilityRoot(Buffer.alloc(22)), { kind: 'malformed' });
});
