import { FsidmapError } from '../../errors.js';
import { shiftEntry } from './entry-shift.js';
import {
  BLOCK, TYPE, checksumMatches, dataSize, encodeHeader, headerFormat, isMetaType, isZeroBlock, readNumber, readString,
  recomputeChecksum, writeSizeField,
} from './header.js';
import type { IdShifter } from './id-shift.js';
import { type PaxRecord, decodePax, encodePax, findRecord } from './pax.js';
import { shiftPaxRecords } from './pax-shift.js';
import type { WarningSink } from './warnings.js';

/**
 * The tar stream shift as a push parser over byte chunks, with no I/O: the
 * stream adapter feeds it and forwards what it emits. It owns the chunks it
 * is given: headers are patched in place, and a run of the input that needs
 * no change is emitted as one view of the chunk, so data blocks are never
 * copied or altered. Only PAX headers (held until their entry's header is
 * seen, because the entry decides their new content) and blocks split
 * across chunks are copied; memory is bounded by the largest meta header,
 * never by the archive.
 */
export interface ShiftCoreOptions {
  readonly shifter: IdShifter;
  readonly warn: WarningSink;
  /** Largest PAX or GNU long-name header accepted, in bytes (default 16 MiB). */
  readonly maxMetaSize?: number;
}

export interface ShiftCoreStats {
  /** Real entries (files, directories, links, devices...). */
  entries: number;
  /** Entry headers with a changed byte. */
  headersRewritten: number;
  /** Existing PAX headers re-encoded. */
  paxRewritten: number;
  /** PAX headers inserted for ids too large for a ustar field. */
  paxCreated: number;
  globalHeaders: number;
  bytesIn: number;
  bytesOut: number;
}

type Mode = 'header' | 'skip' | 'meta' | 'ext' | 'end';

interface Meta {
  readonly type: number;
  readonly header: Uint8Array;
  readonly data: Buffer;
  filled: number;
  /** Padding bytes after the data still to consume. */
  padding: number;
  /** Taken out of the chunk (to be re-emitted or replaced) rather than left in place. */
  readonly detached: boolean;
  readonly offset: number;
}

interface PendingPax {
  readonly header: Uint8Array;
  /** The data as read, re-emitted byte for byte when nothing in it changes. */
  readonly data: Buffer;
  readonly records: PaxRecord[];
  /** Several PAX headers were merged into this one (they must be re-encoded). */
  merged: boolean;
}

const DEFAULT_MAX_META = 16 * 1024 * 1024;
const ZERO_PAD = new Uint8Array(BLOCK);

function pad(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

export class TarShiftCore {
  readonly stats: ShiftCoreStats = { entries: 0, headersRewritten: 0, paxRewritten: 0, paxCreated: 0, globalHeaders: 0, bytesIn: 0, bytesOut: 0 };
  private mode: Mode = 'header';
  private pos = 0;
  private partial: Buffer | null = null;
  private partialLen = 0;
  private skip = 0;
  /** Bytes of data the current GNU sparse header carries, skipped after its extension blocks. */
  private sparseData = 0;
  private meta: Meta | null = null;
  /** Meta headers held back until their entry's header arrives (in stream order). */
  private held: Uint8Array[] | null = null;
  private pax: PendingPax | null = null;
  private longName: string | null = null;
  private globalIds = { uid: false, gid: false };
  private zeroRun = 0;
  private trailingWarned = false;
  private unknownTypes = new Set<number>();
  private readonly maxMeta: number;
  // Per-push state: the start of the run of the current chunk not yet emitted.
  private chunk: Buffer = Buffer.alloc(0);
  private regionStart = 0;

  constructor(private readonly options: ShiftCoreOptions, private readonly emit: (piece: Buffer) => void) {
    this.maxMeta = options.maxMetaSize ?? DEFAULT_MAX_META;
  }

  push(chunk: Buffer): void {
    this.chunk = chunk;
    this.regionStart = 0;
    this.stats.bytesIn += chunk.length;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.mode) {
        case 'end':
          this.checkTrailing(chunk, i);
          i = n;
          break;
        case 'skip': {
          const k = Math.min(this.skip, n - i);
          i += k;
          this.skip -= k;
          if (this.skip === 0) this.mode = 'header';
          break;
        }
        case 'meta':
          i = this.consumeMeta(chunk, i);
          break;
        default: {
          if (this.partialLen === 0 && n - i >= BLOCK) {
            const start = i;
            i += BLOCK;
            this.pos += BLOCK;
            this.onBlock(chunk.subarray(start, start + BLOCK), start);
          } else {
            if (this.partialLen === 0) {
              this.flush(i);
              this.partial = Buffer.allocUnsafe(BLOCK);
            }
            const k = Math.min(BLOCK - this.partialLen, n - i);
            chunk.copy(this.partial!, this.partialLen, i, i + k);
            this.partialLen += k;
            i += k;
            this.regionStart = i;
            if (this.partialLen === BLOCK) {
              const block = this.partial!;
              this.partial = null;
              this.partialLen = 0;
              this.pos += BLOCK;
              this.onBlock(block, -1);
            }
          }
        }
      }
    }
    this.flush(n);
  }

  /** Call at end of input: throws when the archive stopped inside a member. */
  end(): void {
    if (this.stats.bytesIn === 0) {
      throw new FsidmapError('ERR_TAR_EMPTY', 'the input is empty, not a tar archive', { hint: 'check the command or file that should have produced the archive' });
    }
    if (this.stats.entries === 0 && this.stats.bytesIn < BLOCK) {
      throw new FsidmapError('ERR_TAR_BAD_HEADER', `the input is not a tar archive (${this.stats.bytesIn} bytes, less than one header)`, { context: { offset: 0 } });
    }
    if (this.partialLen > 0 || this.mode === 'skip' || this.mode === 'meta' || this.mode === 'ext' || this.held !== null) {
      throw new FsidmapError('ERR_TAR_TRUNCATED', `the archive ends in the middle of ${this.longName ?? 'a member'} (after ${this.stats.bytesIn} bytes)`, {
        context: { bytes: this.stats.bytesIn }, hint: 'the input is incomplete: check the download or the pipe that produced it',
      });
    }
    if (this.mode !== 'end') {
      this.options.warn(this.zeroRun === 1
        ? { code: 'TAR_LONE_ZERO_BLOCK', message: 'the archive ends with a single zero block instead of two', offset: this.stats.bytesIn }
        : { code: 'TAR_NO_END_MARKER', message: 'the archive ends without the two zero blocks that mark its end', offset: this.stats.bytesIn });
    }
  }

  private out(piece: Uint8Array): void {
    if (piece.length === 0) return;
    this.stats.bytesOut += piece.length;
    this.emit(Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.length));
  }

  /** Emits the not-yet-emitted run of the current chunk up to `end`. */
  private flush(end: number): void {
    if (end > this.regionStart) this.out(this.chunk.subarray(this.regionStart, end));
    this.regionStart = Math.max(this.regionStart, end);
  }

  /** Takes a block that lies in the chunk at `start` (or a copied block, start -1) out of the emitted run. */
  private detach(start: number): void {
    if (start >= 0) {
      this.flush(start);
      this.regionStart = start + BLOCK;
    }
  }

  /** Emits a block at its place: in-chunk blocks stay in the run; copied ones go out now. */
  private place(block: Uint8Array, start: number): void {
    if (start < 0) this.out(block);
  }

  private onBlock(block: Buffer, start: number): void {
    const offset = this.pos - BLOCK;
    if (this.mode === 'ext') {
      // GNU old sparse extension block: 21 map entries, then the "more follow" flag.
      this.place(block, start);
      if (block[504] === 0) this.startData(this.sparseData);
      return;
    }
    if (isZeroBlock(block)) {
      if (this.held !== null) throw this.badArchive(offset, 'a PAX or long-name header is followed by the end of the archive instead of an entry');
      this.place(block, start);
      if (++this.zeroRun === 2) this.mode = 'end';
      return;
    }
    if (this.zeroRun === 1) {
      this.options.warn({ code: 'TAR_LONE_ZERO_BLOCK', message: `a lone zero block before the header at byte ${offset}`, offset });
      this.zeroRun = 0;
    }
    if (!checksumMatches(block)) {
      throw new FsidmapError('ERR_TAR_BAD_HEADER', `the block at byte ${offset} is not a valid tar header (checksum mismatch)`, {
        context: { offset }, hint: 'the archive is corrupt or not a tar archive (is it compressed with something other than gzip?)',
      });
    }
    const typeflag = block[156];
    const size = readNumber(block, 'size');
    if (size === undefined) throw this.badArchive(offset, 'the header\'s size field is not a number');
    if (isMetaType(typeflag)) return this.startMeta(block, start, typeflag, size, offset);
    this.onEntry(block, start, typeflag, size, offset);
  }

  private startMeta(block: Buffer, start: number, typeflag: number, size: number, offset: number): void {
    if (size > this.maxMeta) {
      throw new FsidmapError('ERR_TAR_META_TOO_LARGE', `the ${String.fromCharCode(typeflag)} header at byte ${offset} holds ${size} bytes, more than the ${this.maxMeta} accepted`, {
        context: { offset, size }, hint: 'the archive is corrupt, or raise maxMetaSize if such headers are expected',
      });
    }
    // PAX headers may change size, so they leave the chunk; long names stay in place unless queued behind a PAX header.
    const detached = (typeflag !== TYPE.gnuLongName && typeflag !== TYPE.gnuLongLink) || this.held !== null;
    if (detached) this.detach(start);
    else this.place(block, start);
    const header = detached ? Uint8Array.from(block) : block;
    this.meta = { type: typeflag, header, data: Buffer.allocUnsafe(size), filled: 0, padding: pad(size), detached, offset };
    this.mode = 'meta';
    if (size === 0) this.finishMeta();
  }

  private consumeMeta(chunk: Buffer, i: number): number {
    const m = this.meta!;
    const n = chunk.length;
    if (m.filled < m.data.length) {
      const k = Math.min(m.data.length - m.filled, n - i);
      chunk.copy(m.data, m.filled, i, i + k);
      m.filled += k;
      i += k;
      this.pos += k;
    }
    if (m.filled === m.data.length && m.padding > 0) {
      const k = Math.min(m.padding, n - i);
      m.padding -= k;
      i += k;
      this.pos += k;
    }
    if (m.detached) this.regionStart = i;
    if (m.filled === m.data.length && m.padding === 0) this.finishMeta();
    return i;
  }

  private finishMeta(): void {
    const m = this.meta!;
    this.meta = null;
    this.mode = 'header';
    if (m.type === TYPE.gnuLongName || m.type === TYPE.gnuLongLink) {
      if (m.type === TYPE.gnuLongName) this.longName = cString(m.data);
      if (m.detached) this.hold(m.header, m.data);
      return;
    }
    const decoded = decodePax(m.data);
    if (!decoded.ok) throw this.badArchive(m.offset, `malformed PAX header: ${decoded.reason} at byte ${decoded.offset} of its data`);
    if (m.type === TYPE.paxGlobal) return this.onGlobal(m, decoded.records);
    // Local PAX ('x', or Solaris 'X'): held until the entry it describes.
    if (this.pax === null) {
      this.pax = { header: m.header, data: m.data, records: decoded.records, merged: false };
      this.held ??= [];
      this.held.push(m.header); // placeholder position: replaced by the (possibly rewritten) header + data on release
    } else {
      // Two PAX headers for one entry: later records win; they are merged into the first.
      this.pax.records.push(...decoded.records);
      this.pax.merged = true;
    }
    const path = findRecord(decoded.records, 'path');
    if (path) this.longName = path.value.toString('utf8');
  }

  private onGlobal(m: Meta, records: PaxRecord[]): void {
    this.stats.globalHeaders++;
    const r = shiftPaxRecords(records, { shifter: this.options.shifter, path: '(global PAX header)', scope: 'global', warn: this.options.warn, offset: m.offset });
    for (const k of ['uid', 'gid'] as const) if (r.ids[k] !== 'none') this.globalIds[k] = r.ids[k] === 'set';
    const data = r.changed ? encodePax(r.records) : m.data;
    const header = Uint8Array.from(m.header);
    if (r.changed) {
      writeSizeField(header, data.length, headerFormat(header));
      recomputeChecksum(header);
    }
    if (this.held !== null) this.hold(header, data);
    else { this.out(header); this.out(data); this.out(ZERO_PAD.subarray(0, pad(data.length))); }
  }

  private hold(header: Uint8Array, data: Buffer): void {
    this.held ??= [];
    this.held.push(header, data, ZERO_PAD.subarray(0, pad(data.length)));
  }

  private onEntry(block: Buffer, start: number, typeflag: number, size: number, offset: number): void {
    this.stats.entries++;
    const format = headerFormat(block);
    if (!KNOWN_TYPES.has(typeflag) && !this.unknownTypes.has(typeflag)) {
      this.unknownTypes.add(typeflag);
      this.options.warn({ code: 'TAR_UNKNOWN_TYPE', message: `entry type "${String.fromCharCode(typeflag)}" is not known; passed through by its size`, offset });
    }
    if (typeflag !== TYPE.gnuVolume) {
      const path = this.longName ?? entryPath(block, format);
      const r = shiftEntry(
        { block, format, path, offset, local: this.pax?.records ?? null, globalIds: this.globalIds },
        { shifter: this.options.shifter, warn: this.options.warn },
      );
      if (r.headerChanged) {
        recomputeChecksum(block);
        this.stats.headersRewritten++;
      }
      this.releaseHeld(r.local, r.createdPax, block, start, path);
    } else {
      this.releaseHeld(null, false, block, start, '');
    }
    this.place(block, start);
    this.longName = null;
    if (typeflag === TYPE.gnuSparse && format === 'gnu' && block[482] !== 0) {
      this.sparseData = size;
      this.mode = 'ext';
      return;
    }
    this.startData(dataSize(typeflag, size));
  }

  /** Emits the held meta headers before the entry, with the PAX header rewritten or created as the entry requires. */
  private releaseHeld(local: { records: PaxRecord[]; changed: boolean } | null, created: boolean, block: Uint8Array, start: number, path: string): void {
    const held = this.held;
    const pax = this.pax;
    this.held = null;
    this.pax = null;
    if (held === null && !created) return;
    this.flush(start < 0 ? this.regionStart : start);
    const paxPieces = (): Uint8Array[] => {
      if (pax === null && !created) return [];
      const changed = created || (local?.changed ?? false) || (pax?.merged ?? false);
      const records = local?.records ?? pax?.records ?? [];
      const data = changed || pax === null ? encodePax(records) : pax.data;
      let header: Uint8Array;
      if (pax !== null) {
        header = pax.header;
        if (changed) {
          writeSizeField(header, data.length, headerFormat(header));
          recomputeChecksum(header);
          this.stats.paxRewritten++;
        }
      } else {
        header = encodeHeader({ name: paxHeaderName(path), typeflag: TYPE.paxLocal, size: data.length, mtime: readNumber(block, 'mtime') ?? 0, format: 'ustar' });
        this.stats.paxCreated++;
      }
      return [header, data, ZERO_PAD.subarray(0, pad(data.length))];
    };
    if (held === null) {
      for (const p of paxPieces()) this.out(p);
      return;
    }
    for (const piece of held) {
      if (pax !== null && piece === pax.header) for (const p of paxPieces()) this.out(p);
      else this.out(piece);
    }
    if (pax === null && created) for (const p of paxPieces()) this.out(p);
  }

  private startData(bytes: number): void {
    const total = bytes + pad(bytes);
    if (total === 0) { this.mode = 'header'; return; }
    this.skip = total;
    this.pos += total;
    this.mode = 'skip';
  }

  private checkTrailing(chunk: Buffer, from: number): void {
    if (this.trailingWarned) return;
    for (let j = from; j < chunk.length; j++) {
      if (chunk[j] !== 0) {
        this.trailingWarned = true;
        this.options.warn({ code: 'TAR_TRAILING_DATA', message: 'non-zero bytes follow the end-of-archive marker; passed through unchanged', offset: this.pos });
        return;
      }
    }
  }

  private badArchive(offset: number, what: string): FsidmapError {
    return new FsidmapError('ERR_TAR_BAD_ARCHIVE', `at byte ${offset}: ${what}`, { context: { offset }, hint: 'the archive is corrupt' });
  }
}

const KNOWN_TYPES = new Set<number>([
  TYPE.file, TYPE.oldFile, TYPE.hardlink, TYPE.symlink, TYPE.char, TYPE.block, TYPE.dir, TYPE.fifo, TYPE.contiguous,
  TYPE.gnuSparse, TYPE.gnuDumpDir, TYPE.gnuVolume, TYPE.gnuMultiVol,
]);

function cString(data: Buffer): string {
  const nul = data.indexOf(0);
  return data.toString('utf8', 0, nul < 0 ? data.length : nul);
}

/** The stored path of an entry without PAX or long-name help: ustar prefix + name. */
export function entryPath(block: Uint8Array, format: 'ustar' | 'gnu' | 'v7'): string {
  const name = readString(block, 0, 100);
  const prefix = format === 'ustar' ? readString(block, 345, 155) : '';
  return prefix ? `${prefix}/${name}` : name;
}

/** GNU tar's default PAX header name, "%d/PaxHeaders/%f", cut to the 100-byte name field. */
function paxHeaderName(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  const slash = trimmed.lastIndexOf('/');
  const dir = slash < 0 ? '.' : trimmed.slice(0, slash);
  const base = slash < 0 ? trimmed : trimmed.slice(slash + 1);
  return `${dir}/PaxHeaders/${base}`;
}
