import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Accounts } from './accounts.js';
import { parseSubidDb } from './subid-db.js';
import { addSubidRange, removeSubidRange } from './subid-edit.js';
import { haveRange, ownerView } from './subid-owner.js';

const ODD = '# kept comment\n+nis:1:1\nbob:1:2 \n\nweird\0bytes\n:x\nbob:200000:65536\n';

test('add_range: appends "owner:start:count" and keeps every other byte', () => {
  const e = addSubidRange(ODD, 'alice', 100000n, 65536n);
  assert.equal(e.action, 'appended');
  assert.equal(e.text, ODD + 'alice:100000:65536\n');
});

test('add_range: nothing when the owner already has the range (adjacent entries joined)', () => {
  const text = 'alice:100000:30000\nalice:130000:35536\n';
  const e = addSubidRange(text, 'alice', 120000n, 20000n);
  assert.equal(e.action, 'present');
  assert.equal(e.changed, false);
  assert.equal(e.text, text);
});

test('add_range: a last line without a newline gets one before the new entry', () => {
  assert.equal(addSubidRange('bob:1:1', 'alice', 5n, 1n).text, 'bob:1:1\nalice:5:1\n');
  assert.equal(addSubidRange('', 'alice', 5n, 1n).text, 'alice:5:1\n');
});

test("add_range with join: grows the owner's entry that ends where the new range starts", () => {
  const e = addSubidRange('x:1:1\nalice:100000:65536\ny:2:2\n', 'alice', 165536n, 65536n, { join: true });
  assert.equal(e.action, 'extended');
  assert.equal(e.text, 'x:1:1\nalice:100000:131072\ny:2:2\n');
  assert.deepEqual(e.touched, [2]);
});

test('add_range with accounts: an entry owned by the uid already counts, as in usermod', () => {
  const acc = Accounts.parse('alice:x:1000:1000::/:/bin/sh\n');
  assert.equal(addSubidRange('1000:100000:65536\n', 'alice', 100000n, 10n, { accounts: acc }).action, 'present');
  assert.equal(addSubidRange('1000:100000:65536\n', 'alice', 100000n, 10n).action, 'appended');
});

test('remove_range: delete, trim the start, trim the end, split the middle', () => {
  const t = 'alice:100:100\nbob:100:100\n';
  assert.equal(removeSubidRange(t, 'alice', 100n, 100n).text, 'bob:100:100\n');
  assert.equal(removeSubidRange(t, 'alice', 50n, 100n).text, 'alice:150:50\nbob:100:100\n');
  assert.equal(removeSubidRange(t, 'alice', 150n, 100n).text, 'alice:100:50\nbob:100:100\n');
  assert.equal(removeSubidRange(t, 'alice', 120n, 10n).text, 'alice:100:20\nbob:100:100\nalice:130:70\n');
  assert.equal(removeSubidRange(t, 'alice', 300n, 10n).action, 'absent');
  assert.equal(removeSubidRange(t, 'carol', 100n, 10n).changed, false);
});

test('remove_range: the owner is compared as text, and odd lines survive', () => {
  const t = ODD + '1000:5:5\nalice:5:5\n';
  const e = removeSubidRange(t, 'alice', 0n, 100n);
  assert.equal(e.text, ODD + '1000:5:5\n');
});

test('edits refuse owners that cannot be written and files shadow cannot read', () => {
  assert.throws(() => addSubidRange('', 'a:b', 1n, 1n), { code: 'ERR_SUBID_OWNER' });
  assert.throws(() => addSubidRange('', '', 1n, 1n), { code: 'ERR_SUBID_OWNER' });
  assert.throws(() => removeSubidRange('x:1:1\ny\0\n', 'x', 1n, 1n), { code: 'ERR_SUBID_UNREADABLE' });
});

test('property: after add the owner has the range; after remove of it none of it; other owners unchanged', () => {
  const acc = new Accounts([]);
  const line = fc
    .tuple(fc.constantFrom('alice', 'bob'), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 60 }))
    .map(([o, s, c]) => `${o}:${s}:${c}`);
  fc.assert(
    fc.property(fc.array(line, { maxLength: 8 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 60 }), (lines, s, c) => {
      const text = lines.join('\n') + (lines.length ? '\n' : '');
      const added = addSubidRange(text, 'alice', BigInt(s), BigInt(c));
      const v = ownerView(parseSubidDb(added.text), 'alice', acc, { uidFallback: false });
      assert.equal(haveRange(v, BigInt(s), BigInt(c)).ok, true);
      const removed = removeSubidRange(added.text, 'alice', BigInt(s), BigInt(c));
      const after = ownerView(parseSubidDb(removed.text), 'alice', acc, { uidFallback: false });
      for (let i = s; i < s + c; i++) assert.equal(haveRange(after, BigInt(i), 1n).ok, false);
      const bobs = (t: string) =>
        t
          .split('\n')
          .filter((l) => l.startsWith('bob:'))
          .join('\n');
      assert.equal(bobs(removed.text), bobs(text));
    }),
    { numRuns: 1000 },
  );
});
