import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodePax, encodePax, findRecord, paxRecord, parsePaxId } from './pax.js';

test('encodePax: the length prefix counts itself, across the digit boundaries', () => {
  for (const valueLen of [0, 1, 2, 3, 4, 5, 6, 90, 91, 92, 93, 94, 95, 96, 990, 991, 992, 993, 994, 995]) {
    const rec = encodePax([paxRecord('k', 'v'.repeat(valueLen))]);
    const stated = Number(rec.toString('latin1').split(' ')[0]);
    assert.equal(stated, rec.length, `value length ${valueLen}`);
  }
});

test('decodePax: GNU tar output with a binary xattr value (containing "\\n" and "=")', () => {
  const value = Buffer.from([0x02, 0, 0, 0, 0x0a, 0x3d, 0xff, 0x00]);
  const data = encodePax([paxRecord('mtime', '1700000000.5'), paxRecord('SCHILY.xattr.system.posix_acl_access', value)]);
  const r = decodePax(data);
  assert.ok(r.ok);
  assert.equal(r.records.length, 2);
  assert.ok(findRecord(r.records, 'SCHILY.xattr.system.posix_acl_access')!.value.equals(value));
});

test('decodePax: malformed data is refused with the offset', () => {
  const table: Array<[string, string]> = [
    ['x uid=1\n', 'missing record length'],
    ['9 uid=123\n', 'record does not end with a newline'],
    ['12 uid=1\n', 'record length 12 runs past the header data'],
    ['7 uid1\n', 'record has no "="'],
    ['6 =12\n', 'record has an empty key'],
  ];
  for (const [text, reason] of table) {
    const r = decodePax(Buffer.from(text, 'latin1'));
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.equal(r.reason, reason, text);
  }
  assert.ok(decodePax(Buffer.from('8 uid=1\n\0\0\0', 'latin1')).ok, 'trailing NUL padding is tolerated');
});

test('property: records decode to what was encoded', () => {
  const key = fc.string({ minLength: 1, maxLength: 30 }).filter((k) => !k.includes('=') && !k.includes('\0'));
  fc.assert(
    fc.property(fc.array(fc.tuple(key, fc.uint8Array({ maxLength: 300 })), { maxLength: 8 }), (pairs) => {
      const recs = pairs.map(([k, v]) => paxRecord(k, Buffer.from(v)));
      const r = decodePax(encodePax(recs));
      assert.ok(r.ok);
      assert.deepEqual(
        r.records.map((x) => [x.key, [...x.value]]),
        recs.map((x) => [x.key, [...x.value]]),
      );
    }),
  );
});

test('parsePaxId: plain u32 only; empty means "delete" and is not an id', () => {
  assert.equal(parsePaxId(Buffer.from('3000000')), 3000000);
  assert.equal(parsePaxId(Buffer.from('4294967295')), 4294967295);
  for (const bad of ['', '-1', '1.5', '4294967296', ' 1', '12345678901']) assert.equal(parsePaxId(Buffer.from(bad)), undefined, bad);
});
