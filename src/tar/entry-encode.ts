import { BLOCK, TYPE, encodeHeader, recomputeChecksum, writeStringField } from './header.js';
import { encodeOctal } from './large-numbers.js';
import { type PaxRecord, encodePax, paxRecord } from './pax.js';

/**
 * The headers of one entry this code writes (the image store's commit):
 * a ustar header, preceded by a PAX 'x' header when a field does not fit
 * ustar (long paths and link targets, ids of 2^21 and above, sizes of 8 GiB
 * and above) or when the entry has xattrs (SCHILY.xattr.NAME, as GNU tar,
 * umoci and containers/storage write them). Names are left empty: owners
 * are by number. Pure; the caller writes the data and its padding.
 */
export interface EntryFields {
  readonly path: string;
  readonly type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtime: number;
  readonly linkpath?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  readonly xattrs?: ReadonlyArray<readonly [string, Buffer]>;
}

const TYPEFLAG = {
  file: TYPE.file,
  dir: TYPE.dir,
  symlink: TYPE.symlink,
  hardlink: TYPE.hardlink,
  char: TYPE.char,
  block: TYPE.block,
  fifo: TYPE.fifo,
} as const;
const MAX_OCTAL_8 = 8 ** 7;
const MAX_OCTAL_12 = 8 ** 11;

export function encodeEntryHeaders(e: EntryFields): Buffer {
  const records: PaxRecord[] = [];
  const name = e.type === 'dir' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
  const nameBytes = Buffer.byteLength(name, 'utf8');
  const linkpath = e.linkpath ?? '';
  if (nameBytes > 100) records.push(paxRecord('path', name));
  if (Buffer.byteLength(linkpath, 'utf8') > 100) records.push(paxRecord('linkpath', linkpath));
  if (e.uid >= MAX_OCTAL_8) records.push(paxRecord('uid', String(e.uid)));
  if (e.gid >= MAX_OCTAL_8) records.push(paxRecord('gid', String(e.gid)));
  if (e.size >= MAX_OCTAL_12) records.push(paxRecord('size', String(e.size)));
  for (const [k, v] of e.xattrs ?? []) records.push(paxRecord(`SCHILY.xattr.${k}`, v));
  const parts: Buffer[] = [];
  if (records.length > 0) {
    const data = encodePax(records);
    parts.push(
      Buffer.from(
        encodeHeader({ name: `PaxHeaders/${truncateBytes(name, 80)}`, typeflag: TYPE.paxLocal, size: data.length, format: 'ustar' }),
      ),
      padded(data),
    );
  }
  const h = encodeHeader({
    name: truncateBytes(name, 100),
    typeflag: TYPEFLAG[e.type],
    size: e.size < MAX_OCTAL_12 ? e.size : 0,
    mode: e.mode & 0o7777,
    mtime: e.mtime,
    format: 'ustar',
  });
  encodeOctal(h, 108, 8, e.uid < MAX_OCTAL_8 ? e.uid : 0);
  encodeOctal(h, 116, 8, e.gid < MAX_OCTAL_8 ? e.gid : 0);
  if (linkpath) writeStringField(h, 'linkname', truncateBytes(linkpath, 100));
  if (e.type === 'char' || e.type === 'block') {
    encodeOctal(h, 329, 8, e.devmajor ?? 0);
    encodeOctal(h, 337, 8, e.devminor ?? 0);
  }
  recomputeChecksum(h);
  parts.push(Buffer.from(h));
  return Buffer.concat(parts);
}

/** Zeros that bring `size` bytes of data to a whole block. */
export function paddingFor(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** The end of an archive: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

function padded(b: Buffer): Buffer {
  return Buffer.concat([b, paddingFor(b.length)]);
}

/** At most n bytes of s's UTF-8, cut on a character boundary (the PAX record carries the whole). */
function truncateBytes(s: string, n: number): string {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= n) return s;
  let end = n;
  while (end > 0 && (b[end] & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString('utf8');
}
