import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MAX_OCTAL_7, decodeNumeric, encodeBase256, encodeOctal, maxOctal } from './large-numbers.js';

const field = (s: string | number[], len = 8): Uint8Array => {
  const b = new Uint8Array(len);
  if (typeof s === 'string') b.set(Buffer.from(s, 'latin1'));
  else b.set(s);
  return b;
};

test('decodeNumeric: octal forms GNU tar reads (leading spaces, NUL or space terminated, field-filling)', () => {
  const cases: Array<[string, number]> = [
    ['0001750\0', 1000],
    ['   1750 ', 1000],
    ['1750\0\0\0\0', 1000],
    ['17777777', 0o17777777],
    ['0000000\0', 0],
    [' 7\0     ', 7],
  ];
  for (const [text, value] of cases) {
    const r = decodeNumeric(field(text), 0, 8);
    assert.deepEqual(r.ok && r.value, value, JSON.stringify(text));
  }
});

test('decodeNumeric: an all-NUL or all-space field is empty (0), garbage is refused', () => {
  assert.deepEqual(decodeNumeric(field(''), 0, 8), { ok: true, value: 0, form: 'empty' });
  assert.deepEqual(decodeNumeric(field('        '), 0, 8), { ok: true, value: 0, form: 'empty' });
  for (const bad of ['12a4\0', '0009\0', 'x\0', '12 34\0']) assert.equal(decodeNumeric(field(bad), 0, 8).ok, false, bad);
});

test('decodeNumeric: GNU base-256, positive (0x80) and negative (0xff)', () => {
  assert.deepEqual(decodeNumeric(field([0x80, 0, 0, 0, 0, 0x2d, 0xc6, 0xc0]), 0, 8), { ok: true, value: 3000000, form: 'base256' });
  assert.deepEqual(decodeNumeric(field([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 0, 8), { ok: true, value: -1, form: 'base256' });
  const r = decodeNumeric(field([0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 12), 0, 12);
  assert.deepEqual(r, { ok: false, reason: 'too-large' });
});

test('encodeOctal: 7 digits and a NUL in an 8-byte field, refused when it does not fit', () => {
  const b = new Uint8Array(8);
  assert.equal(encodeOctal(b, 0, 8, 1000), true);
  assert.equal(Buffer.from(b).toString('latin1'), '0001750\0');
  assert.equal(encodeOctal(b, 0, 8, MAX_OCTAL_7), true);
  assert.equal(encodeOctal(b, 0, 8, MAX_OCTAL_7 + 1), false);
  assert.equal(Buffer.from(b).toString('latin1'), '7777777\0', 'a refused write leaves the field alone');
  assert.equal(maxOctal(12), 0o77777777777);
});

test('property: octal and base-256 writes decode to the value written', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
      const b = new Uint8Array(8);
      const wrote = encodeOctal(b, 0, 8, v) ? 'octal' : encodeBase256(b, 0, 8, v) ? 'base256' : 'none';
      assert.equal(wrote, v <= MAX_OCTAL_7 ? 'octal' : 'base256');
      const r = decodeNumeric(b, 0, 8);
      assert.ok(r.ok);
      assert.equal(r.value, v);
    }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (v) => {
      const b = new Uint8Array(12);
      if (!encodeOctal(b, 0, 12, v)) assert.equal(encodeBase256(b, 0, 12, v), true);
      const r = decodeNumeric(b, 0, 12);
      assert.ok(r.ok && r.value === v);
    }),
  );
});
