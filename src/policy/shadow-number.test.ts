import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getulong, isCanonical } from './shadow-number.js';

const U64 = 1n << 64n;

// Each row is what glibc 2.36 strtoul(s, &end, 0) + shadow's getulong checks give
// (also checked against the real strtoul in test/integration/subid-getulong.test.ts).
const ACCEPT: Array<[string, bigint, string]> = [
  ['0', 0n, 'decimal'],
  ['100000', 100000n, 'decimal'],
  ['4294967295', 4294967295n, 'decimal'],
  ['18446744073709551615', U64 - 1n, 'decimal'],
  ['0100000', 32768n, 'octal'],
  ['00', 0n, 'octal'],
  ['0x186a0', 100000n, 'hex'],
  ['0X186A0', 100000n, 'hex'],
  ['+5', 5n, 'decimal'],
  ['-1', U64 - 1n, 'decimal'],
  ['-0', 0n, 'decimal'],
  ['-18446744073709451616', 100000n, 'decimal'],
  [' 7', 7n, 'decimal'],
  ['\t\n\v\f\r 7', 7n, 'decimal'],
  [' -0x10', U64 - 16n, 'hex'],
  ['0xffffffffffffffff', U64 - 1n, 'hex'],
];

const REFUSE: Array<[string, string]> = [
  ['', 'empty'],
  [' ', 'not-a-number'],
  ['+', 'not-a-number'],
  ['-', 'not-a-number'],
  ['abc', 'not-a-number'],
  ['7 ', 'trailing-junk'],
  ['7\r', 'trailing-junk'],
  ['1e3', 'trailing-junk'],
  ['08', 'trailing-junk'],
  ['0x', 'trailing-junk'],
  ['0xg', 'trailing-junk'],
  ['0b101', 'trailing-junk'],
  ['- 5', 'not-a-number'],
  ['++5', 'not-a-number'],
  ['18446744073709551616', 'out-of-range'],
  ['-18446744073709551616', 'out-of-range'],
  ['0x10000000000000000', 'out-of-range'],
  ['١٢', 'not-a-number'],
  ['7\u00a0', 'trailing-junk'],
  ['\u00a07', 'not-a-number'],
];

test('getulong: accepts what strtoul base 0 reads to the end', () => {
  for (const [s, value, notation] of ACCEPT) {
    const r = getulong(s);
    assert.ok(r.ok, `${JSON.stringify(s)} should parse`);
    if (r.ok) {
      assert.equal(r.value, value, JSON.stringify(s));
      assert.equal(r.notation, notation, JSON.stringify(s));
    }
  }
});

test('getulong: refuses empty, junk, trailing characters and 64-bit overflow', () => {
  for (const [s, reason] of REFUSE) {
    const r = getulong(s);
    assert.equal(r.ok, false, `${JSON.stringify(s)} should be refused`);
    if (!r.ok) assert.equal(r.reason, reason, JSON.stringify(s));
  }
});

test('getulong: only plain decimal is canonical (the form shadow writes)', () => {
  const canon = (s: string) => {
    const r = getulong(s);
    return r.ok && isCanonical(r);
  };
  assert.equal(canon('123'), true);
  assert.equal(canon('0'), true);
  for (const s of ['0123', '+1', '-1', ' 1', '0x1']) assert.equal(canon(s), false, s);
});
