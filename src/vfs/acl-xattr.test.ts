import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAclXattr, encodeAclXattr } from './acl-xattr.js';

test("posix_acl_xattr: decode(encode(acl)) gives the ACL back, the mask from the mode's group bits", () => {
  const acl = { users: [{ id: 300005, perm: 6 }], groups: [{ id: 300042, perm: 4 }], groupObj: 5 };
  const d = decodeAclXattr(encodeAclXattr(acl, 0o750));
  assert.deepEqual(d, { acl, mask: 5 });
});

test('posix_acl_xattr: a minimal ACL carries nothing beyond the mode', () => {
  const bytes = encodeAclXattr({ users: [], groups: [], groupObj: 5 }, 0o754);
  assert.equal(decodeAclXattr(bytes)?.acl, null);
});

test('posix_acl_xattr: a wrong version, a ragged length or an unknown tag is refused', () => {
  const good = encodeAclXattr({ users: [{ id: 1, perm: 7 }], groups: [], groupObj: 0 }, 0o770);
  const badVersion = good.slice();
  badVersion[0] = 1;
  const badTag = good.slice();
  badTag[4 + 8] = 0x40;
  assert.equal(decodeAclXattr(badVersion), undefined);
  assert.equal(decodeAclXattr(good.slice(0, good.length - 3)), undefined);
  assert.equal(decodeAclXattr(badTag), undefined);
});
