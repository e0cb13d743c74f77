import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  F,
  TYPE,
  checksumMatches,
  computeChecksum,
  dataSize,
  decodeHeader,
  encodeHeader,
  headerFormat,
  isMetaType,
  recomputeChecksum,
  writeIdField,
} from './header.js';

test('encodeHeader: the three magics, a valid checksum, and fields that decode back', () => {
  for (const format of ['ustar', 'gnu', 'v7'] as const) {
    const h = encodeHeader({ name: 'dir/file', typeflag: TYPE.file, size: 1234, mode: 0o4755, mtime: 1700000000, format });
    assert.equal(headerFormat(h), format);
    assert.equal(checksumMatches(h), true);
    const d = decodeHeader(h);
    assert.ok(d.ok);
    assert.equal(d.header.path, 'dir/file');
    assert.equal(d.header.size, 1234);
    assert.equal(d.header.mode, 0o4755);
    assert.equal(d.header.mtime, 1700000000);
  }
});

test('checksum: one changed byte is caught; the recomputed sum is six digits, NUL, space', () => {
  const h = encodeHeader({ name: 'a', typeflag: TYPE.file, size: 0, format: 'ustar' });
  h[0] = 0x62;
  assert.equal(checksumMatches(h), false);
  assert.equal(decodeHeader(h).ok, false);
  recomputeChecksum(h);
  assert.equal(checksumMatches(h), true);
  assert.equal(Buffer.from(h.subarray(148, 156)).toString('latin1'), `${computeChecksum(h).toString(8).padStart(6, '0')}\0 `);
});

test('checksum: a signed-byte sum (historic Sun tar) is accepted, as GNU tar does', () => {
  const h = encodeHeader({ name: '\u00e9', typeflag: TYPE.file, size: 0, format: 'ustar' });
  let signed = 8 * 32;
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) signed += h[i] > 127 ? h[i] - 256 : h[i];
  Buffer.from(h.buffer).write(`${signed.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  assert.equal(checksumMatches(h), true);
});

test('writeIdField: octal up to 2097151, then base-256 in GNU headers and a PAX record elsewhere (as GNU tar)', () => {
  const table: Array<['ustar' | 'gnu' | 'v7', number, string]> = [
    ['ustar', 2097151, 'octal'],
    ['ustar', 2097152, 'needs-pax'],
    ['v7', 3000000, 'needs-pax'],
    ['gnu', 2097151, 'octal'],
    ['gnu', 2097152, 'base256'],
    ['gnu', 4294967294, 'base256'],
  ];
  for (const [format, id, expected] of table) {
    const h = encodeHeader({ name: 'x', typeflag: TYPE.file, size: 0, format });
    assert.equal(writeIdField(h, 'uid', id, format), expected, `${format} ${id}`);
    recomputeChecksum(h);
    const d = decodeHeader(h);
    assert.ok(d.ok);
    assert.equal(d.header.uid, expected === 'needs-pax' ? 0 : id);
  }
});

test('ustar prefix joins the name; GNU headers have no prefix there', () => {
  const h = encodeHeader({ name: 'name', typeflag: TYPE.file, size: 0, format: 'ustar' });
  Buffer.from(h.buffer).write('some/prefix', F.prefix[0], 'utf8');
  recomputeChecksum(h);
  const d = decodeHeader(h);
  assert.ok(d.ok && d.header.path === 'some/prefix/name');
});

test('dataSize follows GNU tar: directories carry none, every other type its size', () => {
  assert.equal(dataSize(TYPE.dir, 4096), 0);
  for (const t of [TYPE.file, TYPE.hardlink, TYPE.symlink, TYPE.gnuDumpDir, TYPE.paxLocal, 0x5a]) assert.equal(dataSize(t, 10), 10);
  assert.deepEqual([TYPE.paxLocal, TYPE.paxGlobal, TYPE.gnuLongName, TYPE.gnuLongLink, TYPE.file].map(isMetaType), [
    true,
    true,
    true,
    true,
    false,
  ]);
});

test('decodeHeader: a bad number names the field', () => {
  const h = encodeHeader({ name: 'x', typeflag: TYPE.file, size: 0, format: 'ustar' });
  Buffer.from(h.buffer).write('12z4567\0', F.uid[0], 'latin1');
  recomputeChecksum(h);
  const d = decodeHeader(h);
  assert.equal(d.ok, false);
  if (!d.ok) assert.equal(d.problem.field, 'uid');
});
