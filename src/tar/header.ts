import { decodeNumeric, encodeBase256, encodeOctal } from './large-numbers.js';

/**
 * One 512-byte tar header block: the ustar layout (POSIX.1-1988), the GNU
 * variant (magic "ustar  \0", base-256 numbers, atime/ctime and an old-style
 * sparse map where ustar keeps its name prefix) and the pre-POSIX v7 layout
 * (no magic). Pure: decode reads fields, the setters patch fields of a block
 * in place and recomputeChecksum seals it.
 */
export const BLOCK = 512;

/** Field offsets and lengths (ustar; GNU differs only from byte 345 on). */
export const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
  // GNU only:
  gnuIsExtended: [482, 1],
  gnuRealSize: [483, 12],
} as const;
type FieldName = keyof typeof F;

/** Where the header came from, read off its magic: it decides how large numbers may be written. */
export type HeaderFormat = 'ustar' | 'gnu' | 'v7';

/** The typeflags this code gives meaning to; others pass through as "other". */
export const TYPE = {
  file: 0x30,
  oldFile: 0,
  hardlink: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  dir: 0x35,
  fifo: 0x36,
  contiguous: 0x37,
  paxLocal: 0x78 /* x */,
  paxGlobal: 0x67 /* g */,
  gnuLongName: 0x4c /* L */,
  gnuLongLink: 0x4b /* K */,
  gnuSparse: 0x53 /* S */,
  gnuDumpDir: 0x44 /* D */,
  gnuVolume: 0x56 /* V */,
  gnuMultiVol: 0x4d /* M */,
  solarisAcl: 0x41 /* A */,
  solarisXattr: 0x58 /* X: old Solaris/star extended header, same layout as x */,
} as const;

/** Meta headers describe the next real entry instead of being one. */
export function isMetaType(t: number): boolean {
  return t === TYPE.paxLocal || t === TYPE.paxGlobal || t === TYPE.gnuLongName || t === TYPE.gnuLongLink || t === TYPE.solarisXattr;
}

/**
 * How many data bytes follow a header of this type, per GNU tar (list.c,
 * skip_member): every type carries `size` bytes except directories, whose
 * size field GNU tar ignores. (GNU dumpdirs, type D, do carry data.)
 */
export function dataSize(typeflag: number, size: number): number {
  return typeflag === TYPE.dir ? 0 : size;
}

export interface TarHeader {
  /** Name joined with the ustar prefix (if any); as stored, not normalized. */
  readonly path: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtime: number;
  readonly typeflag: number;
  readonly linkname: string;
  readonly format: HeaderFormat;
  readonly uname: string;
  readonly gname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** GNU old sparse header ('S'): more sparse map blocks follow the header. */
  readonly gnuExtended: boolean;
  /** GNU old sparse header: the file's real (expanded) size. */
  readonly gnuRealSize: number;
}

export type HeaderProblem = { readonly field: FieldName; readonly reason: string };
export type HeaderDecode = { readonly ok: true; readonly header: TarHeader } | { readonly ok: false; readonly problem: HeaderProblem };

export function headerFormat(block: Uint8Array): HeaderFormat {
  // "ustar\0" + "00" (POSIX) vs "ustar " + " \0" (GNU); anything else is v7.
  if (block[257] !== 0x75 || block[258] !== 0x73 || block[259] !== 0x74 || block[260] !== 0x61 || block[261] !== 0x72) return 'v7';
  return block[262] === 0x20 ? 'gnu' : 'ustar';
}

/** Unsigned byte sum with the checksum field counted as spaces (POSIX). */
export function computeChecksum(block: Uint8Array): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += block[i];
  for (let i = 156; i < BLOCK; i++) sum += block[i];
  return sum;
}

/** The same over signed bytes: some historic tars (Sun) wrote that. GNU tar accepts both. */
function computeSignedChecksum(block: Uint8Array): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    const b = block[i];
    sum += b > 127 ? b - 256 : b;
  }
  return sum;
}

export function checksumMatches(block: Uint8Array): boolean {
  const stored = decodeNumeric(block, 148, 8);
  if (!stored.ok || stored.form === 'empty') return false;
  return stored.value === computeChecksum(block) || stored.value === computeSignedChecksum(block);
}

/** Writes the checksum as GNU tar and POSIX writers do: six octal digits, NUL, space. */
export function recomputeChecksum(block: Uint8Array): void {
  const sum = computeChecksum(block);
  encodeOctal(block, 148, 7, sum);
  block[155] = 0x20;
}

export function isZeroBlock(block: Uint8Array, off = 0): boolean {
  for (let i = off; i < off + BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** A NUL-terminated (or field-filling) string field. Names are bytes; UTF-8 is what every modern writer uses. */
export function readString(block: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && block[end] !== 0) end++;
  return Buffer.from(block.buffer, block.byteOffset + off, end - off).toString('utf8');
}

export function readNumber(block: Uint8Array, field: FieldName): number | undefined {
  const [off, len] = F[field];
  const r = decodeNumeric(block, off, len);
  return r.ok ? r.value : undefined;
}

/** Decodes every field; fails (with the field) on a bad checksum or a number that is not one. */
export function decodeHeader(block: Uint8Array): HeaderDecode {
  if (!checksumMatches(block)) return { ok: false, problem: { field: 'chksum', reason: 'checksum does not match the header bytes' } };
  const format = headerFormat(block);
  const nums: Record<string, number> = {};
  const optional = new Set(['devmajor', 'devminor']);
  for (const f of ['mode', 'uid', 'gid', 'size', 'mtime', 'devmajor', 'devminor'] as const) {
    const [off, len] = F[f];
    const r = decodeNumeric(block, off, len);
    if (!r.ok) {
      if (optional.has(f)) {
        nums[f] = 0;
        continue;
      }
      return { ok: false, problem: { field: f, reason: r.reason === 'bad-octal' ? 'not an octal number' : 'number too large' } };
    }
    nums[f] = r.value;
  }
  const typeflag = block[156];
  let gnuExtended = false;
  let gnuRealSize = 0;
  if (format === 'gnu' && typeflag === TYPE.gnuSparse) {
    gnuExtended = block[482] !== 0;
    gnuRealSize = readNumber(block, 'gnuRealSize') ?? 0;
  }
  return {
    ok: true,
    header: {
      path: entryPath(block, format),
      mode: nums.mode,
      uid: nums.uid,
      gid: nums.gid,
      size: nums.size,
      mtime: nums.mtime,
      typeflag,
      linkname: readString(block, 157, 100),
      format,
      uname: format === 'v7' ? '' : readString(block, 265, 32),
      gname: format === 'v7' ? '' : readString(block, 297, 32),
      devmajor: nums.devmajor,
      devminor: nums.devminor,
      gnuExtended,
      gnuRealSize,
    },
  };
}

/** What happened when an id was written into an 8-byte field. */
export type IdFieldWrite = 'octal' | 'base256' | 'needs-pax';

/**
 * Writes a uid or gid the way GNU tar's to_chars does: octal when it fits in
 * 7 digits; otherwise base-256 in GNU headers; otherwise (ustar, v7) the
 * field gets 0 and the caller must carry the value in a PAX record. Reports
 * which, instead of failing.
 */
export function writeIdField(block: Uint8Array, field: 'uid' | 'gid', value: number, format: HeaderFormat): IdFieldWrite {
  const [off, len] = F[field];
  if (encodeOctal(block, off, len, value)) return 'octal';
  if (format === 'gnu' && encodeBase256(block, off, len, value)) return 'base256';
  encodeOctal(block, off, len, 0);
  return 'needs-pax';
}

/** Clears a string field (uname, gname) to all NULs. */
export function clearField(block: Uint8Array, field: 'uname' | 'gname'): void {
  const [off, len] = F[field];
  block.fill(0, off, off + len);
}

/** Writes a string field; false (nothing written) when the UTF-8 bytes do not fit. */
export function writeStringField(block: Uint8Array, field: FieldName, value: string): boolean {
  const [off, len] = F[field];
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > len) return false;
  block.fill(0, off, off + len);
  block.set(bytes, off);
  return true;
}

export interface NewHeaderFields {
  readonly name: string;
  readonly typeflag: number;
  readonly size: number;
  readonly mode?: number;
  readonly mtime?: number;
  readonly format: HeaderFormat;
}

/**
 * A fresh header block for entries this code creates (PAX 'x' headers it
 * must insert). Name bytes past 100 are cut: readers ignore a meta header's
 * name. Throws on a size that does not fit: a caller mistake, not bad data.
 */
export function encodeHeader(fields: NewHeaderFields): Uint8Array {
  const block = new Uint8Array(BLOCK);
  const name = Buffer.from(fields.name, 'utf8').subarray(0, 100);
  block.set(name, 0);
  encodeOctal(block, 100, 8, fields.mode ?? 0o644);
  encodeOctal(block, 108, 8, 0);
  encodeOctal(block, 116, 8, 0);
  if (!encodeOctal(block, 124, 12, fields.size) && !(fields.format === 'gnu' && encodeBase256(block, 124, 12, fields.size))) {
    throw new RangeError(`header size ${fields.size} does not fit a ${fields.format} header`);
  }
  encodeOctal(block, 136, 12, Math.max(0, Math.floor(fields.mtime ?? 0)));
  block[156] = fields.typeflag;
  if (fields.format === 'gnu') block.set([0x75, 0x73, 0x74, 0x61, 0x72, 0x20, 0x20, 0], 257);
  else if (fields.format === 'ustar') block.set([0x75, 0x73, 0x74, 0x61, 0x72, 0, 0x30, 0x30], 257);
  recomputeChecksum(block);
  return block;
}

/** Writes the size field of a header (used when a PAX header's data changes length). */
export function writeSizeField(block: Uint8Array, size: number, format: HeaderFormat): boolean {
  const [off, len] = F.size;
  return encodeOctal(block, off, len, size) || (format === 'gnu' && encodeBase256(block, off, len, size));
}

/** The stored path of an entry without PAX or long-name help: ustar prefix + name. */
export function entryPath(block: Uint8Array, format: HeaderFormat): string {
  const name = readString(block, 0, 100);
  const prefix = format === 'ustar' ? readString(block, 345, 155) : '';
  return prefix ? `${prefix}/${name}` : name;
}

/** The text of a GNU long-name block: up to the first NUL. */
export function cString(data: Buffer): string {
  const nul = data.indexOf(0);
  return data.toString('utf8', 0, nul < 0 ? data.length : nul);
}
