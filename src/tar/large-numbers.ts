/**
 * Numeric header fields: octal text (POSIX ustar) and the base-256 binary form
 * GNU tar uses when a value does not fit (first byte 0x80 for positive, 0xff
 * for negative, then big-endian two's complement over the rest of the field).
 * Pure: works on byte arrays only.
 *
 * Decoding follows GNU tar's from_header (src/list.c): leading spaces and NULs
 * are skipped, octal digits read, and the digits must be followed by a space,
 * a NUL or the end of the field. An empty field reads as 0 for optional fields
 * (GNU tar accepts this for devmajor/devminor; callers decide).
 */

/** Largest value 7 octal digits hold (the classic uid/gid/mode limit): 2097151. */
export const MAX_OCTAL_7 = 0o7777777;
/** Largest value 11 octal digits hold (the classic size/mtime limit): 8 GiB - 1. */
export const MAX_OCTAL_11 = 0o77777777777;

export type NumericDecode =
  | { readonly ok: true; readonly value: number; readonly form: 'octal' | 'base256' | 'empty' }
  | { readonly ok: false; readonly reason: 'bad-octal' | 'too-large' };

/** Reads the numeric field at [off, off + len). */
export function decodeNumeric(block: Uint8Array, off: number, len: number): NumericDecode {
  const first = block[off];
  if (first === 0x80 || first === 0xff) return decodeBase256(block, off, len);
  let i = off;
  const end = off + len;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  if (i === end) return { ok: true, value: 0, form: 'empty' };
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = block[i];
    if (c < 0x30 || c > 0x37) break;
    value = value * 8 + (c - 0x30);
    digits++;
  }
  if (digits === 0) return { ok: false, reason: 'bad-octal' };
  // Digits must end the field or be followed by a terminator (space or NUL).
  for (; i < end; i++) if (block[i] !== 0x20 && block[i] !== 0) return { ok: false, reason: 'bad-octal' };
  return { ok: true, value, form: 'octal' };
}

function decodeBase256(block: Uint8Array, off: number, len: number): NumericDecode {
  const negative = block[off] === 0xff;
  // The first byte carries only the marker bit pattern; GNU tar uses the low
  // 7 bits of a positive marker as value bits too, but they are always 0 for
  // values below 2^56, which is all that JavaScript can hold exactly.
  if (!negative && (block[off] & 0x7f) !== 0) return { ok: false, reason: 'too-large' };
  let value = 0;
  for (let i = off + 1; i < off + len; i++) {
    const b = negative ? 0xff - block[i] : block[i];
    value = value * 256 + b;
    if (value > Number.MAX_SAFE_INTEGER) return { ok: false, reason: 'too-large' };
  }
  // Header ids, sizes and times are never negative in a sane archive; a
  // negative mtime exists (pre-1970) and is returned as such.
  return { ok: true, value: negative ? -(value + 1) : value, form: 'base256' };
}

/**
 * Writes `value` as zero-padded octal in `len - 1` digits plus a NUL, as GNU
 * tar and POSIX writers do ("%07o\0" for an 8-byte field). Returns false,
 * writing nothing, when it does not fit: the caller decides between base-256
 * and a PAX record.
 */
export function encodeOctal(block: Uint8Array, off: number, len: number, value: number): boolean {
  if (!Number.isInteger(value) || value < 0 || value >= 8 ** (len - 1)) return false;
  let v = value;
  let i = off + len - 2;
  // Doubles above 2^31 first, then cheap integer shifts (the common case: ids and small sizes).
  for (; i >= off && v > 0x7fffffff; i--) {
    block[i] = 0x30 + (v % 8);
    v = Math.floor(v / 8);
  }
  for (; i >= off; i--) {
    block[i] = 0x30 + (v & 7);
    v >>>= 3;
  }
  block[off + len - 1] = 0;
  return true;
}

/** Writes a non-negative `value` in GNU base-256 form (0x80 marker). False when it does not fit. */
export function encodeBase256(block: Uint8Array, off: number, len: number, value: number): boolean {
  if (!Number.isInteger(value) || value < 0 || value > Number.MAX_SAFE_INTEGER) return false;
  if (value >= 256 ** (len - 1)) return false;
  let v = value;
  for (let i = off + len - 1; i > off; i--) {
    block[i] = v % 256;
    v = Math.floor(v / 256);
  }
  block[off] = 0x80;
  return true;
}

/** The largest value the octal form of a field of `len` bytes can hold. */
export function maxOctal(len: number): number {
  return 8 ** (len - 1) - 1;
}
