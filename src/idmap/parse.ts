import { type Extent, INVALID_ID, MAX_EXTENTS, PAGE_SIZE, ID_SPACE, rangesOverlap, showRange } from './extent.js';

/**
 * The parse half of kernel/user_namespace.c map_write, byte for byte: the
 * loop that turns a write(2) buffer into extents, refusing junk, -1, zero
 * counts, wraps, overlaps and a 341st line, all with EINVAL. Permission and
 * composition through the parent (EPERM) are in check.ts.
 */

export type ParseRule =
  | 'write-too-long'
  | 'missing-field'
  | 'junk'
  | 'invalid-id'
  | 'count-zero'
  | 'upper-wrap'
  | 'lower-wrap'
  | 'upper-overlap'
  | 'lower-overlap'
  | 'too-many-lines';

export interface ParseFailure {
  readonly ok: false;
  readonly errno: 'EINVAL';
  /** 1-based line of the write where the kernel stopped; null for whole-write rules. */
  readonly line: number | null;
  readonly rule: ParseRule;
  readonly message: string;
  readonly hint: string;
  /** Extents accepted before the failing line. */
  readonly extents: readonly Extent[];
}

export interface ParseSuccess {
  readonly ok: true;
  /** Extents in written order, lower ids as written (parent-relative). */
  readonly extents: readonly Extent[];
}

export type ParseResult = ParseSuccess | ParseFailure;

/**
 * lib/ctype.c isspace: \t \n \v \f \r, space — and 0xA0 (Latin-1 NBSP), which
 * the kernel's table also marks _S.
 */
export function isKernelSpace(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d) || b === 0xa0;
}

const encoder = new TextEncoder();

export function toBytes(input: string | Uint8Array): Uint8Array {
  return typeof input === 'string' ? encoder.encode(input) : input;
}

/**
 * Parses map text exactly as a single write(2) of these bytes to uid_map would be parsed.
 * anyLines: no 340-line limit, for text that is merged before it is a map (map show --normalize);
 * overlaps are then found by sorting, not line against line, so 500,000 lines take O(n log n).
 */
export function parseMapWrite(input: string | Uint8Array, options: { enforcePageSize?: boolean; anyLines?: boolean } = {}): ParseResult {
  const bytes = toBytes(input);
  if (options.enforcePageSize !== false && bytes.length >= PAGE_SIZE) {
    return fail(
      null,
      'write-too-long',
      [],
      `the write is ${bytes.length} bytes; the kernel takes fewer than ${PAGE_SIZE} in one write`,
      'use fewer lines (merge adjacent ranges), drop padding, or remove leading zeros',
    );
  }
  // memdup_user_nul + strchr: an embedded NUL ends the text.
  let end = bytes.indexOf(0);
  if (end < 0) end = bytes.length;

  const extents: Extent[] = [];
  let pos = 0;
  let lineNo = 0;
  for (;;) {
    lineNo++;
    let nl = bytes.indexOf(0x0a, pos);
    if (nl >= end) nl = -1;
    const lineEnd = nl < 0 ? end : nl;
    // One trailing newline is allowed: next_line becomes NULL when it points at the terminator.
    const hasNext = nl >= 0 && nl + 1 < end;
    const cursor = { at: pos };
    const fields: number[] = [];
    for (let f = 0; f < 3; f++) {
      skipSpaces(bytes, cursor, lineEnd);
      const start = cursor.at;
      const value = strtoul(bytes, cursor, lineEnd);
      const next = cursor.at < lineEnd ? bytes[cursor.at] : 0;
      const lastField = f === 2;
      const noDigits = cursor.at === start;
      if (lastField && noDigits && next === 0) {
        return fail(
          lineNo,
          'missing-field',
          extents,
          'field 3 (count) is missing; each line must be three base-10 numbers "first lower count"',
          'add the count: how many consecutive ids the line maps',
        );
      }
      if (lastField ? next !== 0 && !isKernelSpace(next) : !isKernelSpace(next)) {
        if (next === 0) {
          const what = f === 0 && noDigits ? 'the line is empty' : `field ${f + 2} is missing`;
          return fail(
            lineNo,
            'missing-field',
            extents,
            `${what}; each line must be three base-10 numbers "first lower count"`,
            'give all three numbers: first (inside id), lower (outside id), count',
          );
        }
        return fail(
          lineNo,
          'junk',
          extents,
          `unexpected ${describeByte(next)} at column ${cursor.at - pos + 1}; each line must be three base-10 numbers "first lower count" separated by spaces`,
          'write plain decimal numbers (no signs, no 0x, no commas) and end the write with at most one newline',
        );
      }
      fields.push(value);
    }
    skipSpaces(bytes, cursor, lineEnd);
    if (cursor.at < lineEnd) {
      return fail(
        lineNo,
        'junk',
        extents,
        `trailing ${describeByte(bytes[cursor.at])} after the third field`,
        'remove everything after "first lower count" on this line',
      );
    }
    const [first, lower, count] = fields;
    if (first === INVALID_ID || lower === INVALID_ID) {
      const which = first === INVALID_ID ? 'first' : 'lower';
      return fail(
        lineNo,
        'invalid-id',
        extents,
        `${which} id 4294967295 is (u32)-1, the kernel's invalid id`,
        'the largest usable id is 4294967294',
      );
    }
    if (count === 0) {
      return fail(lineNo, 'count-zero', extents, 'count is 0', 'a range must map at least one id');
    }
    if (first + count >= ID_SPACE) {
      return fail(
        lineNo,
        'upper-wrap',
        extents,
        `the range ${first}+${count} wraps past 4294967294 in the first column`,
        `use a count of at most ${ID_SPACE - 1 - first}`,
      );
    }
    if (lower + count >= ID_SPACE) {
      return fail(
        lineNo,
        'lower-wrap',
        extents,
        `the range ${lower}+${count} wraps past 4294967294 in the lower column`,
        `use a count of at most ${ID_SPACE - 1 - lower}`,
      );
    }
    const e: Extent = { first, lower, count };
    for (let i = 0; !options.anyLines && i < extents.length; i++) {
      const p = extents[i];
      if (rangesOverlap(p.first, p.first + p.count, first, first + count)) {
        return fail(
          lineNo,
          'upper-overlap',
          extents,
          `ids ${showRange(first, first + count)} inside the namespace overlap line ${i + 1} (${showRange(p.first, p.first + p.count)})`,
          'each id inside the namespace may be mapped once: shrink or move one of the two ranges',
        );
      }
      if (rangesOverlap(p.lower, p.lower + p.count, lower, lower + count)) {
        return fail(
          lineNo,
          'lower-overlap',
          extents,
          `outside ids ${showRange(lower, lower + count)} overlap line ${i + 1} (${showRange(p.lower, p.lower + p.count)})`,
          'each outside id may be used once: shrink or move one of the two ranges',
        );
      }
    }
    if (!options.anyLines && extents.length + 1 === MAX_EXTENTS && hasNext) {
      return fail(
        lineNo + 1,
        'too-many-lines',
        extents,
        `more than ${MAX_EXTENTS} lines`,
        `the kernel holds at most ${MAX_EXTENTS} extents: merge adjacent ranges`,
      );
    }
    extents.push(e);
    if (!hasNext) break;
    pos = nl + 1;
  }
  return options.anyLines ? (sortedOverlap(extents) ?? { ok: true, extents }) : { ok: true, extents };
}

/** The first overlap of sorted neighbours in either column, named at the later of its two lines. */
function sortedOverlap(extents: Extent[]): ParseFailure | null {
  for (const side of ['upper', 'lower'] as const) {
    const at = (e: Extent) => (side === 'upper' ? e.first : e.lower);
    const order = extents.map((_, i) => i).sort((a, b) => at(extents[a]) - at(extents[b]));
    for (let k = 1; k < order.length; k++) {
      const p = extents[order[k - 1]],
        c = extents[order[k]];
      if (at(p) + p.count <= at(c)) continue;
      const [i, j] = [order[k - 1], order[k]].sort((a, b) => a - b);
      const [a, b] = [extents[i], extents[j]];
      return fail(
        j + 1,
        side === 'upper' ? 'upper-overlap' : 'lower-overlap',
        extents.slice(0, j),
        `${side === 'upper' ? 'ids' : 'outside ids'} ${showRange(at(b), at(b) + b.count)}${side === 'upper' ? ' inside the namespace' : ''} overlap line ${i + 1} (${showRange(at(a), at(a) + a.count)})`,
        side === 'upper'
          ? 'each id inside the namespace may be mapped once: shrink or move one of the two ranges'
          : 'each outside id may be used once: shrink or move one of the two ranges',
      );
    }
  }
  return null;
}

function skipSpaces(bytes: Uint8Array, cursor: { at: number }, end: number): void {
  while (cursor.at < end && isKernelSpace(bytes[cursor.at])) cursor.at++;
}

/**
 * simple_strtoul(…, 10): decimal digits only (no sign, no prefix), no digits
 * gives 0 without moving. Overflow wraps the u64 accumulator and the result is
 * stored in a u32, so the value is the number modulo 2^32.
 */
function strtoul(bytes: Uint8Array, cursor: { at: number }, end: number): number {
  let v = 0;
  while (cursor.at < end) {
    const b = bytes[cursor.at];
    if (b < 0x30 || b > 0x39) break;
    v = (v * 10 + (b - 0x30)) % ID_SPACE;
    cursor.at++;
  }
  return v;
}

function describeByte(b: number): string {
  if (b >= 0x21 && b <= 0x7e) return `"${String.fromCharCode(b)}"`;
  return `byte 0x${b.toString(16).padStart(2, '0')}`;
}

function fail(line: number | null, rule: ParseRule, extents: readonly Extent[], message: string, hint: string): ParseFailure {
  return { ok: false, errno: 'EINVAL', line, rule, message, hint, extents: [...extents] };
}
