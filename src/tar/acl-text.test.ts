import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aclEntries, entryNumericId, formatAclText, parseAclText } from './acl-text.js';
import { aclTextToXattr } from './acl-binary.js';
import { readPosixAclIds } from '../ownership/xattr-codec.js';

test('parseAclText/formatAclText: GNU tar (newlines) and star (commas, trailing ids) come back byte for byte', () => {
  for (const text of [
    'user::rw-\nuser:1234:rwx\ngroup::r--\ngroup:2345:r--\nmask::rwx\nother::r--\n',
    'user::rwx,user:joe:rw-:1001,group::r-x,mask::rwx,other::---',
    'u::rw,u:daemon:r # a comment\ng::r\no::-\n',
    'default:user::rwx\ndefault:user:7:r-x\n',
  ])
    assert.equal(formatAclText(parseAclText(text)), text);
});

test("entryNumericId: a numeric qualifier, else star's trailing id; names alone give none", () => {
  const [numeric, star, named, owner] = aclEntries(parseAclText('user:1234:rwx,user:joe:rw-:1001,group:daemon:r--,user::rwx'));
  assert.equal(entryNumericId(numeric), 1234);
  assert.equal(entryNumericId(star), 1001);
  assert.equal(entryNumericId(named), undefined);
  assert.equal(entryNumericId(owner), undefined);
});

test('aclTextToXattr: sorted by tag then id, as acl_from_text + acl_set_file store it', () => {
  const r = aclTextToXattr('user::rw-\nuser:2000:r--\nuser:daemon:rwx\ngroup::r--\ngroup:50:rw-\nmask::rwx\nother::r--\n', (kind, name) =>
    kind === 'user' && name === 'daemon' ? 1 : undefined,
  );
  assert.ok(r.ok);
  assert.deepEqual(readPosixAclIds(r.value), { users: [1, 2000], groups: [50] });
  // user::rw- is the first entry: tag 1, perm 6, undefined id.
  assert.deepEqual(
    [r.value.readUInt32LE(0), r.value.readUInt16LE(4), r.value.readUInt16LE(6), r.value.readUInt32LE(8)],
    [2, 1, 6, 0xffffffff],
  );
  const unresolved = aclTextToXattr('user:nobody-here:r--\n', () => undefined);
  assert.deepEqual(unresolved.ok ? null : unresolved.reason, 'unresolved');
  const malformed = aclTextToXattr('user:1:rwq\n', () => undefined);
  assert.deepEqual(malformed.ok ? null : malformed.reason, 'malformed');
});
