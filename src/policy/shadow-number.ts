/**
 * shadow-utils' getulong (lib/getulong.c): glibc strtoul(s, &end, 0) on a
 * 64-bit unsigned long, in the C locale, accepted only when the string is not
 * empty, is consumed to the end and did not overflow. newuidmap parses its
 * arguments with it and subordinate_parse the start and count of every
 * /etc/subuid line, so these quirks are part of what users are granted:
 *  - leading C-locale whitespace is skipped, trailing whitespace is refused;
 *  - an optional sign: "-1" is ULONG_MAX, "-0" is 0 (strtoul negates in u64);
 *  - base 0: "0x1F" is hex, a leading 0 makes it octal ("0100000" is 32768);
 *  - "0x" with no hex digit stops at the x, and is therefore refused.
 * Values are bigint because unsigned long is 64 bits and shadow's range
 * arithmetic (start + count - 1) is done in 64 bits.
 */

export const ULONG_MAX = (1n << 64n) - 1n;
export const UINT_MAX = 4294967295n;
const TWO_64 = 1n << 64n;

export type Notation = 'decimal' | 'octal' | 'hex';

export interface UlongOk {
  readonly ok: true;
  readonly value: bigint;
  readonly notation: Notation;
  /** A leading '+' or '-' (a '-' negates modulo 2^64). */
  readonly sign: '+' | '-' | null;
  readonly leadingSpace: boolean;
}

export type UlongFailure = 'empty' | 'not-a-number' | 'trailing-junk' | 'out-of-range';

export interface UlongError {
  readonly ok: false;
  readonly reason: UlongFailure;
}

export type UlongResult = UlongOk | UlongError;

/** C-locale isspace: space, \t \n \v \f \r. */
export function isCSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function digitValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x5a) return c - 0x41 + 10;
  return 99;
}

export function isPlainDecimal(s: string): boolean {
  const c0 = s.charCodeAt(0);
  if (c0 === 0x30) return s.length === 1;
  if (c0 < 0x31 || c0 > 0x39) return false;
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** getulong(numstr): shadow's acceptance of one number. */
export function getulong(s: string): UlongResult {
  if (s.length === 0) return { ok: false, reason: 'empty' };
  // Fast path for the overwhelmingly common canonical decimal (no sign, no leading zero).
  if (s.length <= 15 && isPlainDecimal(s)) {
    return { ok: true, value: BigInt(+s), notation: 'decimal', sign: null, leadingSpace: false };
  }
  let i = 0;
  while (i < s.length && isCSpace(s.charCodeAt(i))) i++;
  const leadingSpace = i > 0;
  let sign: '+' | '-' | null = null;
  if (s[i] === '-' || s[i] === '+') {
    sign = s[i] as '+' | '-';
    i++;
  }
  let base = 10;
  let notation: Notation = 'decimal';
  if (s[i] === '0') {
    if (s[i + 1] === 'x' || s[i + 1] === 'X') {
      // glibc: with no hex digit after "0x", the number is the "0" and parsing stops at the x.
      if (digitValue(s.charCodeAt(i + 2)) >= 16) return { ok: false, reason: 'trailing-junk' };
      base = 16;
      notation = 'hex';
      i += 2;
    } else {
      base = 8;
      notation = 'octal';
    }
  }
  const start = i;
  let value = 0n;
  let overflow = false;
  const b = BigInt(base);
  for (; i < s.length; i++) {
    const d = digitValue(s.charCodeAt(i));
    if (d >= base) break;
    if (!overflow) {
      value = value * b + BigInt(d);
      if (value > ULONG_MAX) overflow = true;
    }
  }
  if (i === start) return { ok: false, reason: 'not-a-number' };
  if (i < s.length) return { ok: false, reason: 'trailing-junk' };
  if (overflow) return { ok: false, reason: 'out-of-range' };
  // A lone "0" parsed as octal is just zero; call it decimal for reports.
  if (notation === 'octal' && i - start === 1) notation = 'decimal';
  if (sign === '-') value = (TWO_64 - value) % TWO_64;
  return { ok: true, value, notation, sign, leadingSpace };
}

/** True when the text is the number written the way shadow itself writes it ("%lu"). */
export function isCanonical(r: UlongOk): boolean {
  return r.notation === 'decimal' && r.sign === null && !r.leadingSpace;
}

/** What a non-canonical spelling means, for messages: "octal 0100000 = 32768". */
export function describeNotation(text: string, r: UlongOk): string {
  const parts: string[] = [];
  if (r.leadingSpace) parts.push('leading whitespace');
  if (r.sign === '-') parts.push('a minus sign (negated modulo 2^64)');
  if (r.sign === '+') parts.push('a plus sign');
  if (r.notation === 'octal') parts.push('a leading zero (octal)');
  if (r.notation === 'hex') parts.push('a 0x prefix (hexadecimal)');
  return `"${text}" has ${parts.join(', ')}: shadow reads it as ${r.value}`;
}
