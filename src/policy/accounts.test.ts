import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Accounts } from './accounts.js';
import { getdefBool, parseLoginDefs } from './login-defs.js';

test('passwd: files-backend rules: blank and comment lines, bad ids and NIS entries skipped; first match wins', () => {
  const a = Accounts.parse(
    '# c\n\n  root:x:0:0::/root:/bin/sh\nbad:x:abc:1::/:/bin/sh\n+nis::0:0:::\nalice:x:1000:1000::/:/bin/sh\nalice:x:1002:1002::/:/bin/sh\ntwin:x:1000:7::/:/bin/sh\n',
    'root:x:0:\nstaff:x:50:alice,bob\nstaff:x:51:\n',
  );
  assert.deepEqual(
    a.users.map((u) => u.name),
    ['root', 'alice', 'alice', 'twin'],
  );
  assert.equal(a.getpwnam('alice')?.uid, 1000);
  assert.equal(a.getpwuid(1000)?.name, 'alice');
  assert.equal(a.getpwuid(1002)?.name, 'alice');
  assert.equal(a.getpwnam('bad'), undefined);
  assert.equal(a.getgrnam('staff')?.gid, 50);
  assert.deepEqual(a.getgrnam('staff')?.members, ['alice', 'bob']);
  assert.equal(a.findUser('1002')?.uid, 1002);
  assert.equal(a.findUser('twin')?.gid, 7);
  assert.deepEqual(a.userIds(), [0, 1000, 1002]);
});

test('login.defs: def_load rules (last wins, quotes, case-insensitive yes)', () => {
  const d = parseLoginDefs('# GRANT_AUX_GROUP_SUBIDS yes\nGRANT_AUX_GROUP_SUBIDS no\n  GRANT_AUX_GROUP_SUBIDS\t"Yes"  \nLONE\n');
  assert.equal(getdefBool(d, 'GRANT_AUX_GROUP_SUBIDS'), true);
  assert.equal(getdefBool(parseLoginDefs('GRANT_AUX_GROUP_SUBIDS yes please\n'), 'GRANT_AUX_GROUP_SUBIDS'), false);
  assert.equal(getdefBool(parseLoginDefs(''), 'GRANT_AUX_GROUP_SUBIDS'), false);
  assert.equal(d.has('LONE'), false);
});
