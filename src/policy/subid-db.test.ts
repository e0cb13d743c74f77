import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSubidDb, rawOf } from './subid-db.js';

const one = (line: string) => parseSubidDb(line + '\n').lines[0];

test('subordinate_parse: owner:start:count with shadow number rules', () => {
  const l = one('alice:100000:65536');
  assert.deepEqual(l.range, { owner: 'alice', start: 100000n, count: 65536n });
  assert.equal(l.skip, null);
  assert.deepEqual(one('alice:0x186a0:0200000').range, { owner: 'alice', start: 100000n, count: 65536n });
  assert.deepEqual(one('alice: 100000:65536').range?.start, 100000n);
  assert.equal(one('alice:-1:1').range?.start, (1n << 64n) - 1n);
});

test('subordinate_parse: the skip reasons, table-driven', () => {
  const cases: Array<[string, string]> = [
    ['', 'too-few-fields'],
    ['   ', 'too-few-fields'],
    ['# a comment', 'too-few-fields'],
    ['alice', 'too-few-fields'],
    ['alice:100000', 'too-few-fields'],
    ['alice:100000:', 'empty-field'],
    [':100000:65536', 'empty-field'],
    ['alice::65536', 'empty-field'],
    ['alice:100000:65536 ', 'bad-count'],
    ['alice:100000:65536\r', 'bad-count'],
    ['alice:1e5:65536', 'bad-start'],
    ['alice:100000 :65536', 'bad-start'],
    ['alice:18446744073709551616:1', 'bad-start'],
    ['+alice:100000:65536', 'nis'],
    ['-alice:100000:65536', 'nis'],
    [`${'a'.repeat(1011)}:100000:65536`, 'too-long'],
  ];
  for (const [line, skip] of cases) {
    const l = one(line);
    assert.equal(l.range, null, JSON.stringify(line));
    assert.equal(l.skip, skip, JSON.stringify(line));
  }
});

test('subordinate_parse: a line of 1023 bytes parses, 1024 does not', () => {
  const tail = ':100000:65536';
  assert.ok(one('a'.repeat(1023 - tail.length) + tail).range);
  assert.equal(one('a'.repeat(1024 - tail.length) + tail).skip, 'too-long');
});

test('subordinate_parse: fields after the third colon are ignored', () => {
  const l = one('alice:100000:65536:junk:more');
  assert.deepEqual(l.range, { owner: 'alice', start: 100000n, count: 65536n });
  assert.equal(l.extra, 'junk:more');
});

test('subordinate_parse: a commented-out entry is an entry for owner "#…"', () => {
  assert.deepEqual(one('#alice:100000:65536').range, { owner: '#alice', start: 100000n, count: 65536n });
  assert.equal(one(' alice:1:1').range?.owner, ' alice');
});

test('commonio_open: lines, last line without newline, line numbers', () => {
  const db = parseSubidDb('a:1:1\n\nb:2:2');
  assert.equal(db.lines.length, 3);
  assert.deepEqual(
    db.lines.map((l) => l.lineNo),
    [1, 2, 3],
  );
  assert.equal(db.lines[2].newline, false);
  assert.equal(db.lines.map(rawOf).join(''), 'a:1:1\n\nb:2:2');
});

test('commonio_open: a NUL byte cuts the line and glues the next one on (fgets + strlen)', () => {
  const db = parseSubidDb('alice:1\0junk\n:5\nbob:7:7\n');
  assert.equal(db.readable, true);
  assert.equal(db.lines.length, 2);
  assert.equal(db.lines[0].text, 'alice:1:5');
  assert.deepEqual(db.lines[0].range, { owner: 'alice', start: 1n, count: 5n });
  assert.equal(db.lines[0].lineNo, 1);
  assert.equal(db.lines[1].lineNo, 3);
  // Every byte is kept for rewrites.
  assert.equal(db.lines.map(rawOf).join(''), 'alice:1\0junk\n:5\nbob:7:7\n');
});

test('commonio_open: a NUL in the newline-terminated last line makes the whole read fail', () => {
  assert.equal(parseSubidDb('alice:1:1\nbob:2\0:2\n').readable, false);
  // Without the final newline fgets stops at EOF and the read succeeds.
  const db = parseSubidDb('alice:1:1\nbob:2:2\0x');
  assert.equal(db.readable, true);
  assert.deepEqual(db.lines[1].range, { owner: 'bob', start: 2n, count: 2n });
});

test('commonio_open: lines longer than the 4096-byte buffer are read whole', () => {
  const owner = 'x'.repeat(5000);
  const db = parseSubidDb(`${owner}:1:1\nalice:2:2\n`);
  assert.equal(db.lines.length, 2);
  assert.equal(db.lines[0].skip, 'too-long');
  assert.deepEqual(db.lines[1].range, { owner: 'alice', start: 2n, count: 2n });
});
