import { getulong, isCanonical, type UlongOk } from './shadow-number.js';

/**
 * /etc/subuid and /etc/subgid as shadow-utils 4.13 reads them: commonio_open
 * splits the file into lines (lib/commonio.c), lines starting with '+' or '-'
 * are NIS entries and not parsed, every other line goes through
 * subordinate_parse (lib/subordinateio.c). A line that fails to parse is kept
 * (and written back unchanged) but grants nothing. Pure: the text comes in
 * as a latin1 string, one char per byte.
 */

export type SubidFileKind = 'subuid' | 'subgid';

/** One `owner:start:count` entry, with shadow's 64-bit values. */
export interface SubidRange {
  readonly owner: string;
  readonly start: bigint;
  readonly count: bigint;
}

export type SkipReason = 'nis' | 'too-long' | 'too-few-fields' | 'empty-field' | 'bad-start' | 'bad-count';

export interface SubidLine {
  /** 1-based number of the line's first byte in the file. */
  readonly lineNo: number;
  /** What shadow sees: the line up to its newline, cut at the first NUL byte. */
  readonly text: string;
  /** Whether the record ends with a newline in the file. */
  readonly newline: boolean;
  /**
   * The exact bytes the record spans, when they are not simply `text` plus
   * the newline (NUL bytes): what a rewrite preserves. See rawOf.
   */
  readonly raw?: string;
  readonly range: SubidRange | null;
  readonly skip: SkipReason | null;
  /** Parsed entries only, and only when not plain decimal: how shadow read the start and count. */
  readonly startNumber?: UlongOk;
  readonly countNumber?: UlongOk;
  /** Parsed entries with more than three fields: the ignored rest, after the third colon. */
  readonly extra?: string;
}

export interface SubidDb {
  readonly lines: readonly SubidLine[];
  /**
   * False when commonio_open itself fails on this text (a NUL byte in a
   * newline-terminated last line makes its fgets loop hit EOF): newuidmap
   * then exits 1 without a message, whatever is asked.
   */
  readonly readable: boolean;
}

const BUFLEN = 4096;
/** subordinate_parse copies into `char rangebuf[1024]` and fails when strlen >= 1024. */
export const MAX_LINE = 1024;

export function parseSubidDb(text: string): SubidDb {
  const { records, readable } = readLines(text);
  const lines = records.map((r) => parseRecord(r));
  return { lines, readable };
}

interface Record {
  text: string;
  newline: boolean;
  raw?: string;
  lineNo: number;
}

/**
 * commonio_open's read loop, including what fgets does with a NUL byte: the
 * C string ends there, no newline is found, and the next fgets appends the
 * following line at the NUL. Without NUL bytes this is "split on \n".
 */
function readLines(text: string): { records: Record[]; readable: boolean } {
  const records: Record[] = [];
  const n = text.length;
  if (text.indexOf('\0') < 0) {
    // Common case, same result as the simulation below.
    let pos = 0;
    let lineNo = 1;
    while (pos < n) {
      const nl = text.indexOf('\n', pos);
      if (nl < 0) {
        records.push({ text: text.slice(pos), newline: false, lineNo });
        break;
      }
      records.push({ text: text.slice(pos, nl), newline: true, lineNo });
      pos = nl + 1;
      lineNo++;
    }
    return { records, readable: true };
  }
  let pos = 0;
  let eof = false;
  let buflen = BUFLEN;
  const fgets = (size: number): string | null => {
    if (pos >= n) {
      eof = true;
      return null;
    }
    const start = pos;
    while (pos - start < size - 1) {
      if (pos >= n) {
        eof = true;
        break;
      }
      if (text.charCodeAt(pos++) === 0x0a) break;
    }
    return text.slice(start, pos);
  };
  const cstr = (s: string) => {
    const z = s.indexOf('\0');
    return z < 0 ? s : s.slice(0, z);
  };
  for (;;) {
    const recordStart = pos;
    let buf: string | null = fgets(buflen);
    if (buf === null) break;
    while (!cstr(buf).includes('\n') && !eof) {
      buflen += BUFLEN;
      const len: number = cstr(buf).length;
      const more = fgets(buflen - len);
      if (more === null) return { records, readable: false };
      buf = buf.slice(0, len) + more;
    }
    let line = cstr(buf);
    const nl = line.lastIndexOf('\n');
    if (nl >= 0) line = line.slice(0, nl);
    const raw = text.slice(recordStart, pos);
    const newline = raw.endsWith('\n');
    records.push({
      text: line,
      newline,
      ...(raw === line + (newline ? '\n' : '') ? {} : { raw }),
      lineNo: lineNumberAt(text, recordStart),
    });
  }
  return { records, readable: true };
}

function lineNumberAt(text: string, offset: number): number {
  let count = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) count++;
  return count;
}

function parseRecord(rec: Record): SubidLine {
  const { text, lineNo } = rec;
  const skipped = (skip: SkipReason): SubidLine =>
    rec.raw === undefined
      ? { lineNo, text, newline: rec.newline, range: null, skip }
      : { lineNo, text, newline: rec.newline, raw: rec.raw, range: null, skip };
  // name_is_nis: '+' or '-' first.
  if (text.charCodeAt(0) === 0x2b || text.charCodeAt(0) === 0x2d) return skipped('nis');
  if (text.length >= MAX_LINE) return skipped('too-long');
  // subordinate_parse: at most three colon-separated fields; anything after a third colon is ignored.
  const c1 = text.indexOf(':');
  if (c1 < 0) return skipped('too-few-fields');
  const c2 = text.indexOf(':', c1 + 1);
  if (c2 < 0) return skipped('too-few-fields');
  const c3 = text.indexOf(':', c2 + 1);
  const countEnd = c3 < 0 ? text.length : c3;
  if (c1 === 0 || c2 === c1 + 1 || countEnd === c2 + 1) return skipped('empty-field');
  // Plain decimal (the common case) is read in place; anything else goes through getulong.
  const plainStart = plainDecimal(text, c1 + 1, c2);
  const plainCount = plainDecimal(text, c2 + 1, countEnd);
  const start = plainStart < 0 ? getulong(text.slice(c1 + 1, c2)) : undefined;
  if (start && !start.ok) return skipped('bad-start');
  const count = plainCount < 0 ? getulong(text.slice(c2 + 1, countEnd)) : undefined;
  if (count && !count.ok) return skipped('bad-count');
  const line: SubidLine = {
    lineNo,
    text,
    newline: rec.newline,
    skip: null,
    range: { owner: text.slice(0, c1), start: start ? start.value : BigInt(plainStart), count: count ? count.value : BigInt(plainCount) },
  };
  // Keep how the numbers were spelled only when shadow had to interpret them (octal, hex, signs, blanks).
  if (start && !isCanonical(start)) (line as { startNumber?: UlongOk }).startNumber = start;
  if (count && !isCanonical(count)) (line as { countNumber?: UlongOk }).countNumber = count;
  if (c3 >= 0) (line as { extra?: string }).extra = text.slice(c3 + 1);
  if (rec.raw !== undefined) (line as { raw?: string }).raw = rec.raw;
  return line;
}

/** The value of text[from, to) when it is plain decimal of at most 15 digits ("0" or no leading zero), else -1. */
function plainDecimal(text: string, from: number, to: number): number {
  const n = to - from;
  if (n < 1 || n > 15) return -1;
  const c0 = text.charCodeAt(from);
  if (c0 === 0x30) return n === 1 ? 0 : -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

/** The exact bytes of a record in its file. */
export function rawOf(line: SubidLine): string {
  return line.raw ?? (line.newline ? line.text + '\n' : line.text);
}

/** The entries shadow uses, in file order. */
export function subidEntries(db: SubidDb): Array<{ line: SubidLine; range: SubidRange }> {
  const out: Array<{ line: SubidLine; range: SubidRange }> = [];
  for (const line of db.lines) if (line.range) out.push({ line, range: line.range });
  return out;
}

/** Words for a skip reason, for messages. */
export function describeSkip(line: SubidLine): string {
  switch (line.skip) {
    case 'nis':
      return `starts with "${line.text[0]}": shadow treats it as a NIS entry and never parses it`;
    case 'too-long':
      return `is ${line.text.length} bytes long; shadow ignores lines of ${MAX_LINE} bytes or more`;
    case 'too-few-fields':
      return 'does not have three colon-separated fields owner:start:count';
    case 'empty-field':
      return 'has an empty owner, start or count field';
    case 'bad-start':
      return `has a start shadow cannot read as a number (${JSON.stringify(line.text.split(':')[1])})`;
    case 'bad-count':
      return `has a count shadow cannot read as a number (${JSON.stringify(line.text.split(':')[2])})`;
    default:
      return 'parses';
  }
}
