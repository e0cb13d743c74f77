import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { getulong } from '../../src/policy/shadow-number.js';

/**
 * fsidmap's getulong against shadow's, compiled on glibc's real strtoul
 * (test/native/getulong-probe.c): random strings over the characters that
 * matter (digits, signs, 0x, blanks, letters, bytes above 127) and the
 * 32/64-bit boundaries must be accepted or refused alike, with equal values.
 */
const probe = join(dirname(fileURLToPath(import.meta.url)), '..', 'native', 'getulong-probe');
const skip = existsSync(probe) ? undefined : `the probe was not built (${probe}); run npm run build with a C compiler`;

function glibc(inputs: readonly string[]): Array<bigint | null> {
  const r = spawnSync(probe, [], { input: Buffer.concat(inputs.map((s) => Buffer.from(s + '\0', 'latin1'))), maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`getulong-probe exited ${r.status}: ${r.stderr}`);
  const lines = r.stdout.toString().trimEnd().split('\n');
  assert.equal(lines.length, inputs.length);
  return lines.map((l) => (l === 'fail' ? null : BigInt(l.slice(3))));
}

const ALPHABET = [
  '0',
  '0',
  '1',
  '7',
  '8',
  '9',
  'x',
  'X',
  'a',
  'f',
  'F',
  'g',
  'e',
  '+',
  '-',
  ' ',
  '\t',
  '\n',
  '\v',
  '\f',
  '\r',
  '\u00a0',
  'b',
  '.',
];
const BOUNDARIES = [
  '4294967295',
  '4294967296',
  '18446744073709551615',
  '18446744073709551616',
  '-18446744073709551615',
  '-18446744073709551616',
  '0xffffffffffffffff',
  '0x10000000000000000',
  '01777777777777777777777',
  '02000000000000000000000',
  '0x',
  '0X',
  '-0x',
  '+0x1',
  ' 0x1 ',
  '99999999999999999999',
  '000000000000000000000000000000000001',
];

test("getulong matches glibc strtoul + shadow's checks", { skip }, () => {
  const random = fc.sample(
    fc.array(fc.constantFrom(...ALPHABET), { minLength: 0, maxLength: 12 }).map((a) => a.join('')),
    { numRuns: 20000, seed: 424242 },
  );
  const digits = fc.sample(
    fc
      .tuple(fc.constantFrom('', ' ', '+', '-', '0', '0x', '-0x'), fc.bigInt({ min: 0n, max: 1n << 66n }))
      .map(([p, n]) => p + (p.endsWith('x') ? n.toString(16) : p === '0' ? n.toString(8) : n.toString())),
    { numRuns: 5000, seed: 4243 },
  );
  const inputs = [...BOUNDARIES, ...random, ...digits];
  const expected = glibc(inputs);
  const diffs: string[] = [];
  inputs.forEach((s, i) => {
    const r = getulong(s);
    const ours = r.ok ? r.value : null;
    if (ours !== expected[i]) diffs.push(`${JSON.stringify(s)}: fsidmap ${ours}, glibc ${expected[i]}`);
  });
  console.log(`getulong: ${inputs.length} strings compared with glibc strtoul`);
  assert.deepEqual(diffs.slice(0, 20), []);
});
