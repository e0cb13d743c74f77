import { F, type HeaderFormat, TYPE, encodeHeader, recomputeChecksum, writeIdField, writeStringField } from '../../src/tar/header.js';
import { type PaxRecord, encodePax, paxRecord } from '../../src/tar/pax.js';

/**
 * Builds small tar archives in memory for unit tests of the codec and the
 * shifter, with the layout choices the tests need to control (format, PAX
 * records, GNU long names, global headers). The integration tests use GNU
 * tar itself instead.
 */
export interface TestEntry {
  readonly path: string;
  readonly type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo';
  readonly uid: number;
  readonly gid: number;
  readonly mode?: number;
  readonly data?: Buffer;
  readonly linkname?: string;
  readonly uname?: string;
  readonly gname?: string;
  /** Local PAX records to put in an 'x' header before the entry. */
  readonly pax?: ReadonlyArray<[string, string | Buffer]>;
  /** Use a GNU 'L' header for the name (GNU format). */
  readonly longName?: boolean;
  readonly mtime?: number;
}

const TYPEFLAG = { file: TYPE.file, dir: TYPE.dir, symlink: TYPE.symlink, hardlink: TYPE.hardlink, fifo: TYPE.fifo } as const;

function pad(b: Buffer): Buffer {
  const rest = (512 - (b.length % 512)) % 512;
  return rest === 0 ? b : Buffer.concat([b, Buffer.alloc(rest)]);
}

export function buildEntry(e: TestEntry, format: HeaderFormat): Buffer {
  const parts: Buffer[] = [];
  if (e.longName) {
    const name = Buffer.from(e.path + '\0', 'utf8');
    parts.push(
      Buffer.from(encodeHeader({ name: '././@LongLink', typeflag: TYPE.gnuLongName, size: name.length, format: 'gnu' })),
      pad(name),
    );
  }
  if (e.pax && e.pax.length > 0) {
    const data = encodePax(e.pax.map(([k, v]) => paxRecord(k, v)));
    parts.push(
      Buffer.from(encodeHeader({ name: `PaxHeaders/${e.path.slice(0, 80)}`, typeflag: TYPE.paxLocal, size: data.length, format: 'ustar' })),
      pad(data),
    );
  }
  const data = e.data ?? Buffer.alloc(0);
  const h = encodeHeader({
    name: e.path.slice(0, 100),
    typeflag: TYPEFLAG[e.type ?? 'file'],
    size: e.type === 'file' || e.type === undefined ? data.length : 0,
    mode: e.mode ?? 0o644,
    mtime: e.mtime ?? 1700000000,
    format,
  });
  const uidWrite = writeIdField(h, 'uid', e.uid, format);
  const gidWrite = writeIdField(h, 'gid', e.gid, format);
  if (uidWrite === 'needs-pax' || gidWrite === 'needs-pax')
    throw new Error('test entry id needs PAX: give it in pax records and a small header id');
  if (e.linkname) writeStringField(h, 'linkname', e.linkname);
  if (format !== 'v7') {
    writeStringField(h, 'uname', e.uname ?? 'user');
    writeStringField(h, 'gname', e.gname ?? 'group');
  }
  recomputeChecksum(h);
  parts.push(Buffer.from(h));
  if (e.type === 'file' || e.type === undefined) parts.push(pad(data));
  return Buffer.concat(parts);
}

export function buildGlobal(records: ReadonlyArray<[string, string]>): Buffer {
  const data = encodePax(records.map(([k, v]) => paxRecord(k, v)));
  return Buffer.concat([
    Buffer.from(encodeHeader({ name: 'pax_global_header', typeflag: TYPE.paxGlobal, size: data.length, format: 'ustar' })),
    pad(data),
  ]);
}

export function buildArchive(entries: readonly TestEntry[], format: HeaderFormat = 'ustar', prefix: Buffer[] = []): Buffer {
  return Buffer.concat([...prefix, ...entries.map((e) => buildEntry(e, format)), Buffer.alloc(1024)]);
}

export function records(pairs: ReadonlyArray<[string, string]>): PaxRecord[] {
  return pairs.map(([k, v]) => paxRecord(k, v));
}

export { F };
