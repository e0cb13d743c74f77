import { type EntryShiftInput, shiftEntry } from './entry-shift.js';
import {
  BLOCK,
  type HeaderFormat,
  TYPE,
  checksumMatches,
  dataSize,
  headerFormat,
  isMetaType,
  isZeroBlock,
  cString,
  entryPath,
  readNumber,
  recomputeChecksum,
  writeSizeField,
} from './header.js';
import type { IdShifter } from './id-shift.js';
import { BlockAssembler, MetaData } from './block-reader.js';
import { ChunkRuns } from './chunk-runs.js';
import { type PaxRecord, decodePax, encodePax, findRecord } from './pax.js';
import { type PendingPax, padding, renderPax } from './pax-release.js';
import { shiftPaxRecords } from './pax-shift.js';
import { badArchive, badHeader, emptyInput, metaTooLarge, notTar, truncated } from './stream-errors.js';
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
  readonly header: Uint8Array;
  readonly buffer: MetaData;
  /** Taken out of the chunk (to be re-emitted or replaced) rather than left in place. */
  readonly detached: boolean;
}

const DEFAULT_MAX_META = 16 * 1024 * 1024;
function pad(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

export class TarShiftCore {
  readonly stats: ShiftCoreStats = {
    entries: 0,
    headersRewritten: 0,
    paxRewritten: 0,
    paxCreated: 0,
    globalHeaders: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
  private mode: Mode = 'header';
  private pos = 0;
  private readonly blocks = new BlockAssembler();
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
  private readonly runs: ChunkRuns;

  constructor(
    private readonly options: ShiftCoreOptions,
    emit: (piece: Buffer) => void,
  ) {
    this.maxMeta = options.maxMetaSize ?? DEFAULT_MAX_META;
    this.runs = new ChunkRuns(emit);
  }

  push(chunk: Buffer): void {
    this.runs.begin(chunk);
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
          if (!this.blocks.pending && n - i >= BLOCK) {
            const start = i;
            i += BLOCK;
            this.pos += BLOCK;
            this.onBlock(chunk.subarray(start, start + BLOCK), start);
          } else {
            // A block split across chunks: copied together, then emitted as a piece of its own.
            if (!this.blocks.pending) this.runs.flush(i);
            const { taken, block } = this.blocks.take(chunk, i);
            i += taken;
            this.runs.skipTo(i);
            if (block) {
              this.pos += BLOCK;
              this.onBlock(block, -1);
            }
          }
        }
      }
    }
    this.runs.flush(n);
    this.stats.bytesOut = this.runs.bytesOut;
  }

  /** Call at end of input: throws when the archive stopped inside a member. */
  end(): void {
    if (this.stats.bytesIn === 0) throw emptyInput();
    if (this.stats.entries === 0 && this.stats.bytesIn < BLOCK) throw notTar(this.stats.bytesIn);
    if (this.blocks.pending || this.mode === 'skip' || this.mode === 'meta' || this.mode === 'ext' || this.held !== null) {
      throw truncated(this.stats.bytesIn, this.longName);
    }
    if (this.mode !== 'end') {
      this.options.warn(
        this.zeroRun === 1
          ? { code: 'TAR_LONE_ZERO_BLOCK', message: 'the archive ends with a single zero block instead of two', offset: this.stats.bytesIn }
          : {
              code: 'TAR_NO_END_MARKER',
              message: 'the archive ends without the two zero blocks that mark its end',
              offset: this.stats.bytesIn,
            },
      );
    }
  }

  private onBlock(block: Buffer, start: number): void {
    const offset = this.pos - BLOCK;
    if (this.mode === 'ext') {
      // GNU old sparse extension block: 21 map entries, then the "more follow" flag.
      this.runs.place(block, start);
      if (block[504] === 0) this.startData(this.sparseData);
      return;
    }
    if (isZeroBlock(block)) {
      if (this.held !== null)
        throw badArchive(offset, 'a PAX or long-name header is followed by the end of the archive instead of an entry');
      this.runs.place(block, start);
      if (++this.zeroRun === 2) this.mode = 'end';
      return;
    }
    if (this.zeroRun === 1) {
      this.options.warn({ code: 'TAR_LONE_ZERO_BLOCK', message: `a lone zero block before the header at byte ${offset}`, offset });
      this.zeroRun = 0;
    }
    if (!checksumMatches(block)) throw badHeader(offset, 'checksum mismatch');
    const typeflag = block[156];
    const size = readNumber(block, 'size');
    if (size === undefined) throw badArchive(offset, "the header's size field is not a number");
    if (isMetaType(typeflag)) return this.startMeta(block, start, typeflag, size, offset);
    this.onEntry(block, start, typeflag, size, offset);
  }

  private startMeta(block: Buffer, start: number, typeflag: number, size: number, offset: number): void {
    if (size > this.maxMeta) throw metaTooLarge(offset, typeflag, size, this.maxMeta);
    // PAX headers may change size, so they leave the chunk; long names stay in place unless queued behind a PAX header.
    const detached = (typeflag !== TYPE.gnuLongName && typeflag !== TYPE.gnuLongLink) || this.held !== null;
    if (detached) this.runs.detach(start);
    else this.runs.place(block, start);
    // new Uint8Array(typed array) copies in one go; Uint8Array.from walked the block byte by byte.
    const header = detached ? new Uint8Array(block) : block;
    this.meta = { header, buffer: new MetaData(typeflag, size, offset), detached };
    this.mode = 'meta';
    if (size === 0) this.finishMeta();
  }

  private consumeMeta(chunk: Buffer, i: number): number {
    const m = this.meta!;
    const k = m.buffer.consume(chunk, i);
    this.pos += k;
    if (m.detached) this.runs.skipTo(i + k);
    if (m.buffer.done) this.finishMeta();
    return i + k;
  }

  private finishMeta(): void {
    const { header, buffer, detached } = this.meta!;
    const { typeflag, data, offset } = buffer;
    this.meta = null;
    this.mode = 'header';
    if (typeflag === TYPE.gnuLongName || typeflag === TYPE.gnuLongLink) {
      if (typeflag === TYPE.gnuLongName) this.longName = cString(data);
      if (detached) this.hold(header, data);
      return;
    }
    const decoded = decodePax(data);
    if (!decoded.ok) throw badArchive(offset, `malformed PAX header: ${decoded.reason} at byte ${decoded.offset} of its data`);
    if (typeflag === TYPE.paxGlobal) return this.onGlobal(header, data, offset, decoded.records);
    // Local PAX ('x', or Solaris 'X'): held until the entry it describes.
    if (this.pax === null) {
      this.pax = { header, data, records: decoded.records, merged: false };
      this.held ??= [];
      this.held.push(header); // placeholder position: replaced by the (possibly rewritten) header + data on release
    } else {
      // Two PAX headers for one entry: later records win; they are merged into the first.
      this.pax.records.push(...decoded.records);
      this.pax.merged = true;
    }
    const path = findRecord(decoded.records, 'path');
    if (path) this.longName = path.value.toString('utf8');
  }

  private onGlobal(metaHeader: Uint8Array, raw: Buffer, offset: number, records: PaxRecord[]): void {
    this.stats.globalHeaders++;
    const r = shiftPaxRecords(records, {
      shifter: this.options.shifter,
      path: '(global PAX header)',
      scope: 'global',
      warn: this.options.warn,
      offset,
    });
    for (const k of ['uid', 'gid'] as const) if (r.ids[k] !== 'none') this.globalIds[k] = r.ids[k] === 'set';
    const data = r.changed ? encodePax(r.records) : raw;
    const header = new Uint8Array(metaHeader);
    if (r.changed) {
      writeSizeField(header, data.length, headerFormat(header));
      recomputeChecksum(header);
    }
    if (this.held !== null) this.hold(header, data);
    else {
      this.runs.out(header);
      this.runs.out(data);
      this.runs.out(padding(data.length));
    }
  }

  private hold(header: Uint8Array, data: Buffer): void {
    this.held ??= [];
    this.held.push(header, data, padding(data.length));
  }

  private onEntry(block: Buffer, start: number, typeflag: number, size: number, offset: number): void {
    this.stats.entries++;
    const format = headerFormat(block);
    if (!KNOWN_TYPES.has(typeflag) && !this.unknownTypes.has(typeflag)) {
      this.unknownTypes.add(typeflag);
      this.options.warn({
        code: 'TAR_UNKNOWN_TYPE',
        message: `entry type "${String.fromCharCode(typeflag)}" is not known; passed through by its size`,
        offset,
      });
    }
    if (typeflag !== TYPE.gnuVolume) {
      const input = new LazyPath(block, format, this.longName, offset, this.pax?.records ?? null, this.globalIds);
      const r = shiftEntry(input, { shifter: this.options.shifter, warn: this.options.warn });
      const path = () => input.path;
      if (r.headerChanged) {
        recomputeChecksum(block);
        this.stats.headersRewritten++;
      }
      this.releaseHeld(r.local, r.createdPax, block, start, path);
    } else {
      this.releaseHeld(null, false, block, start, () => '');
    }
    this.runs.place(block, start);
    this.longName = null;
    if (typeflag === TYPE.gnuSparse && format === 'gnu' && block[482] !== 0) {
      this.sparseData = size;
      this.mode = 'ext';
      return;
    }
    this.startData(dataSize(typeflag, size));
  }

  /** Emits the held meta headers before the entry, with the PAX header rewritten or created as the entry requires. */
  private releaseHeld(
    local: { records: PaxRecord[]; changed: boolean } | null,
    created: boolean,
    block: Uint8Array,
    start: number,
    path: () => string,
  ): void {
    const held = this.held;
    const pax = this.pax;
    this.held = null;
    this.pax = null;
    if (held === null && !created) return;
    this.runs.flush(start < 0 ? this.runs.runStart : start);
    const { pieces, outcome } = renderPax(pax, local, created, block, created ? path() : '');
    if (outcome === 'rewritten') this.stats.paxRewritten++;
    if (outcome === 'created') this.stats.paxCreated++;
    if (held === null) {
      for (const p of pieces) this.runs.out(p);
      return;
    }
    // The PAX header keeps its place among the held meta headers; a created one goes last, just before the entry.
    for (const piece of held) {
      if (pax !== null && piece === pax.header) for (const p of pieces) this.runs.out(p);
      else this.runs.out(piece);
    }
    if (pax === null) for (const p of pieces) this.runs.out(p);
  }

  private startData(bytes: number): void {
    const total = bytes + pad(bytes);
    if (total === 0) {
      this.mode = 'header';
      return;
    }
    this.skip = total;
    this.pos += total;
    this.mode = 'skip';
  }

  private checkTrailing(chunk: Buffer, from: number): void {
    if (this.trailingWarned) return;
    for (let j = from; j < chunk.length; j++) {
      if (chunk[j] !== 0) {
        this.trailingWarned = true;
        this.options.warn({
          code: 'TAR_TRAILING_DATA',
          message: 'non-zero bytes follow the end-of-archive marker; passed through unchanged',
          offset: this.pos,
        });
        return;
      }
    }
  }
}

/**
 * An entry's shift input whose path is decoded from the header only when
 * read (messages, a created PAX header's name): the shift leaves the name
 * fields as they are, so reading them afterwards gives the same text.
 */
class LazyPath implements EntryShiftInput {
  private text: string | null = null;
  constructor(
    readonly block: Uint8Array,
    readonly format: HeaderFormat,
    private readonly longName: string | null,
    readonly offset: number,
    readonly local: PaxRecord[] | null,
    readonly globalIds: { readonly uid: boolean; readonly gid: boolean },
  ) {}
  get path(): string {
    return (this.text ??= this.longName ?? entryPath(this.block, this.format));
  }
}

const KNOWN_TYPES = new Set<number>([
  TYPE.file,
  TYPE.oldFile,
  TYPE.hardlink,
  TYPE.symlink,
  TYPE.char,
  TYPE.block,
  TYPE.dir,
  TYPE.fifo,
  TYPE.contiguous,
  TYPE.gnuSparse,
  TYPE.gnuDumpDir,
  TYPE.gnuVolume,
  TYPE.gnuMultiVol,
]);
