import { decodeNumeric } from './large-numbers.js';
import { type PaxRecord, findRecord, parsePaxNumber } from './pax.js';

/**
 * Sparse files in the three encodings GNU tar writes. In each, the archive
 * stores only the data segments, back to back, plus a map of where each
 * segment belongs in a file of `realSize` bytes (the rest are holes):
 *
 * - old GNU ('S' header): up to 4 map entries in the header, 21 more per
 *   extension block that follows it (each block flags whether another comes);
 * - PAX 0.0 / 0.1: GNU.sparse.offset/numbytes record pairs, or one
 *   GNU.sparse.map record "off,len,off,len,…", with GNU.sparse.size;
 * - PAX 1.0 (GNU tar's default for --format=posix --sparse): GNU.sparse.major=1,
 *   the map as decimal lines at the start of the data, padded to a block.
 *
 * Pure: decoding only; the unpacker writes the segments.
 */
export interface SparseSegment {
  readonly offset: number;
  readonly length: number;
}

export interface SparseMap {
  readonly realSize: number;
  readonly segments: readonly SparseSegment[];
}

/** Map entries from an old GNU header (4 at byte 386) or extension block (21 at byte 0). */
export function readGnuSparseEntries(block: Uint8Array, at: number, count: number): SparseSegment[] {
  const out: SparseSegment[] = [];
  for (let i = 0; i < count; i++) {
    const off = at + i * 24;
    if (block[off] === 0) break;
    const o = decodeNumeric(block, off, 12);
    const n = decodeNumeric(block, off + 12, 12);
    if (!o.ok || !n.ok) break;
    out.push({ offset: o.value, length: n.value });
  }
  return out;
}

export type PaxSparseKind = 'none' | '0.0' | '0.1' | '1.0';

export function paxSparseKind(records: readonly PaxRecord[]): PaxSparseKind {
  const major = findRecord(records, 'GNU.sparse.major')?.value.toString('latin1');
  if (major === '1') return '1.0';
  if (findRecord(records, 'GNU.sparse.map')) return '0.1';
  if (findRecord(records, 'GNU.sparse.offset')) return '0.0';
  return 'none';
}

/** The real size and name a PAX sparse entry declares (any version). */
export function paxSparseInfo(records: readonly PaxRecord[]): { realSize: number | undefined; name: string | undefined } {
  const size = findRecord(records, 'GNU.sparse.realsize') ?? findRecord(records, 'GNU.sparse.size');
  const name = findRecord(records, 'GNU.sparse.name');
  return { realSize: size ? parsePaxNumber(size.value) : undefined, name: name?.value.toString('utf8') };
}

/** The map of a 0.0 or 0.1 entry, from its records; undefined when malformed. */
export function paxSparseMapFromRecords(records: readonly PaxRecord[]): SparseSegment[] | undefined {
  const map = findRecord(records, 'GNU.sparse.map');
  const nums: number[] = [];
  if (map) {
    for (const part of map.value.toString('latin1').split(',')) {
      if (!/^\d+$/.test(part)) return undefined;
      nums.push(Number(part));
    }
  } else {
    for (const r of records) {
      if (r.key === 'GNU.sparse.offset' || r.key === 'GNU.sparse.numbytes') {
        const n = parsePaxNumber(r.value);
        if (n === undefined) return undefined;
        nums.push(n);
      }
    }
  }
  if (nums.length % 2 !== 0) return undefined;
  const out: SparseSegment[] = [];
  for (let i = 0; i < nums.length; i += 2) out.push({ offset: nums[i], length: nums[i + 1] });
  return out;
}

/**
 * Incremental reader of the 1.0 map at the start of the data: decimal
 * numbers, one per line (count, then offset/length pairs). `push` returns how
 * many bytes of the given bytes it consumed; `done` is set once the map is
 * read (the caller then skips to the next 512-byte boundary of the data).
 */
export class Sparse1Map {
  private text = '';
  private readonly nums: number[] = [];
  done = false;
  failed = false;
  consumed = 0;

  push(bytes: Uint8Array): number {
    let used = 0;
    while (used < bytes.length && !this.done && !this.failed) {
      const c = bytes[used++];
      this.consumed++;
      if (c === 0x0a) {
        if (!/^\d+$/.test(this.text)) {
          this.failed = true;
          break;
        }
        this.nums.push(Number(this.text));
        this.text = '';
        if (this.nums.length >= 1 && this.nums.length === 1 + 2 * this.nums[0]) this.done = true;
      } else {
        this.text += String.fromCharCode(c);
        if (this.text.length > 20) this.failed = true;
      }
    }
    return used;
  }

  segments(): SparseSegment[] {
    const out: SparseSegment[] = [];
    for (let i = 1; i + 1 < this.nums.length; i += 2) out.push({ offset: this.nums[i], length: this.nums[i + 1] });
    return out;
  }
}
