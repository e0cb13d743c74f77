import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseMapWrite, type ParseRule } from './parse.js';

/** Each row: the bytes of one write(2), and the kernel's verdict (rule and line, or the extents). */
const refused: Array<[name: string, text: string | Uint8Array, rule: ParseRule, line: number | null]> = [
  ['an empty write is junk', '', 'missing-field', 1],
  ['a lone newline is junk', '\n', 'missing-field', 1],
  ['two trailing newlines: the empty second line is junk', '0 100000 65536\n\n', 'missing-field', 2],
  ['a blank line between lines', '0 1 1\n\n5 5 1\n', 'missing-field', 2],
  ['missing third field', '0 100000\n', 'missing-field', 1],
  ['missing second field', '0\n', 'missing-field', 1],
  ['missing count after a trailing space', '0 100000 \n', 'missing-field', 1],
  ['a sign is junk', '-1 0 1\n', 'junk', 1],
  ['a plus sign is junk', '+1 0 1\n', 'junk', 1],
  ['hex is junk (base 10 only)', '0x10 0 1\n', 'junk', 1],
  ['a comma is junk', '0,100000,65536\n', 'junk', 1],
  ['a fourth field is junk', '0 100000 65536 7\n', 'junk', 1],
  ['junk glued to the count', '0 100000 65536x\n', 'junk', 1],
  ['fields must be separated by space', '0 100000x65536\n', 'junk', 1],
  ['first = (u32)-1 is invalid', '4294967295 0 1\n', 'invalid-id', 1],
  ['lower = (u32)-1 is invalid', '0 4294967295 1\n', 'invalid-id', 1],
  ['count 0', '0 0 0\n', 'count-zero', 1],
  ['upper range wrapping past 2^32-1', '1 0 4294967295\n', 'upper-wrap', 1],
  ['upper range ending exactly at 2^32 wraps to 0', '4294967294 0 2\n', 'upper-wrap', 1],
  ['lower range wrapping', '0 1 4294967295\n', 'lower-wrap', 1],
  ['overlap in the first column', '0 100000 10\n5 200000 10\n', 'upper-overlap', 2],
  ['overlap in the lower column', '0 100000 10\n50 100009 1\n', 'lower-overlap', 2],
  ['duplicate line', '0 0 1\n0 0 1\n', 'upper-overlap', 2],
  ['a write of a whole page', `0 0 1${' '.repeat(4091)}`, 'write-too-long', null],
  ['341 lines', lines(341), 'too-many-lines', 341],
  ['number modulo 2^32 lands on -1', '8589934591 0 1\n', 'invalid-id', 1],
];

const accepted: Array<[name: string, text: string | Uint8Array, extents: Array<[number, number, number]>]> = [
  ['the seed example', '0 100000 100000\n', [[0, 100000, 100000]]],
  ['no trailing newline', '0 100000 65536', [[0, 100000, 65536]]],
  ['the initial namespace identity', '0 0 4294967295\n', [[0, 0, 4294967295]]],
  ['the largest single id', '4294967294 4294967294 1\n', [[4294967294, 4294967294, 1]]],
  ['leading, inner and trailing spaces and tabs', ' \t0\t 100000 \t65536 \t\n', [[0, 100000, 65536]]],
  ['\\v \\f \\r are spaces', '0\v1\f2\r\n', [[0, 1, 2]]],
  ['byte 0xA0 is a kernel space (Latin-1 NBSP)', new Uint8Array([0x30, 0xa0, 0x31, 0x20, 0x32]), [[0, 1, 2]]],
  ['leading zeros are decimal', '010 0100 01\n', [[10, 100, 1]]],
  ["numbers wrap modulo 2^32 like the kernel's u32 store", '4294967296 4294967297 5\n', [[0, 1, 5]]],
  ['an embedded NUL ends the write', new Uint8Array([...Buffer.from('0 0 1\n'), 0, ...Buffer.from('junk')]), [[0, 0, 1]]],
  ['a NUL inside the last line cuts it', new Uint8Array([...Buffer.from('0 0 1'), 0, ...Buffer.from('9')]), [[0, 0, 1]]],
  [
    'adjacent ranges do not overlap',
    '0 100 10\n10 110 10\n',
    [
      [0, 100, 10],
      [10, 110, 10],
    ],
  ],
  ['340 lines', lines(340), Array.from({ length: 340 }, (_, i) => [i * 2, i * 2, 1])],
  ['340 lines with one trailing newline', lines(340) + '', Array.from({ length: 340 }, (_, i) => [i * 2, i * 2, 1])],
];

function lines(n: number): string {
  return Array.from({ length: n }, (_, i) => `${i * 2} ${i * 2} 1\n`).join('');
}

describe('map_write parsing: refused with EINVAL', () => {
  for (const [name, text, rule, line] of refused) {
    test(`rule ${rule}: ${name}`, () => {
      const r = parseMapWrite(text);
      assert.equal(r.ok, false, `expected refusal for ${JSON.stringify(text).slice(0, 60)}`);
      if (r.ok) return;
      assert.equal(r.errno, 'EINVAL');
      assert.equal(r.rule, rule);
      assert.equal(r.line, line);
      assert.ok(r.message.length > 0 && r.hint.length > 0, 'every refusal says what and what to do');
    });
  }
});

describe('map_write parsing: accepted', () => {
  for (const [name, text, extents] of accepted) {
    test(name, () => {
      const r = parseMapWrite(text);
      assert.equal(r.ok, true, r.ok ? '' : `${r.rule}: ${r.message}`);
      assert.deepEqual(
        r.extents.map((e) => [e.first, e.lower, e.count]),
        extents,
      );
    });
  }
});

test("rule too-many-lines is checked after the 340th line's overlap check", () => {
  // Line 340 overlaps line 1: the kernel reports the overlap, not the 341st line.
  const text = lines(339) + '0 999999 1\n' + '5000 5000 1\n';
  const r = parseMapWrite(text);
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.rule, 'upper-overlap');
    assert.equal(r.line, 340);
  }
});

test('rule write-too-long: 4095 bytes is the largest write, 4096 is refused', () => {
  const base = '0 0 1';
  assert.equal(parseMapWrite(base + ' '.repeat(4095 - base.length)).ok, true);
  const r = parseMapWrite(base + ' '.repeat(4096 - base.length));
  assert.equal(r.ok ? null : r.rule, 'write-too-long');
  assert.equal(parseMapWrite(base + ' '.repeat(5000), { enforcePageSize: false }).ok, true);
});

test('refusals report the extents accepted before the failing line', () => {
  const r = parseMapWrite('0 0 1\n1 1 1\n1 5 1\n');
  assert.equal(r.ok, false);
  assert.deepEqual(
    r.extents.map((e) => [e.first, e.lower, e.count]),
    [
      [0, 0, 1],
      [1, 1, 1],
    ],
  );
});
