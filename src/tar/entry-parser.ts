import type { EntryType } from '../ownership/entry.js';
import { BLOCK, TYPE, type TarHeader, cString, dataSize, decodeHeader, isMetaType, isZeroBlock } from './header.js';
import { type PaxRecord, decodePax, findRecord, parsePaxId, parsePaxNumber } from './pax.js';
import {
  type SparseMap,
  type SparseSegment,
  Sparse1Map,
  paxSparseInfo,
  paxSparseKind,
  paxSparseMapFromRecords,
  readGnuSparseEntries,
} from './sparse.js';
import { BlockAssembler, MetaData } from './block-reader.js';
import { badArchive, badHeader, emptyInput, metaTooLarge, notTar, truncated } from './stream-errors.js';
import type { WarningSink } from './warnings.js';

/**
 * Reads a tar stream into entries: each real header merged with the meta
 * headers before it (PAX local and global records, GNU long names), then
 * that entry's data as views of the input chunks. A push parser with no I/O:
 * `push` is a generator, so a consumer that awaits between events (the
 * unpacker writing a file) holds the parser, and so the input, back.
 */
export interface TarEntry {
  /** Byte offset of the entry's header in the uncompressed stream. */
  readonly offset: number;
  /** As stored (PAX path, GNU long name, or ustar prefix/name), not normalized. */
  readonly path: string;
  readonly linkpath: string;
  readonly typeflag: number;
  readonly type: EntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  /** Seconds since the epoch; fractional when a PAX record gave it so. */
  readonly mtime: number;
  readonly atime: number | undefined;
  readonly devmajor: number;
  readonly devminor: number;
  /** Bytes of data events that follow (the stored segments for sparse files). */
  readonly size: number;
  /** Sparse files: where the stored bytes belong, and the file's real size. */
  readonly sparse: SparseMap | undefined;
  /** SCHILY.xattr.* and LIBARCHIVE.xattr.* values by xattr name. */
  readonly xattrs: ReadonlyMap<string, Buffer>;
  readonly aclAccess: string | undefined;
  readonly aclDefault: string | undefined;
  /** The PAX records in force (global, then local). */
  readonly records: readonly PaxRecord[];
}

export type TarEvent =
  | { readonly kind: 'entry'; readonly entry: TarEntry }
  /** Data of the current entry; a view valid until the consumer asks for the next event. */
  | { readonly kind: 'data'; readonly bytes: Buffer }
  | { readonly kind: 'entry-end' };

type Mode = 'header' | 'ext' | 'meta' | 'sparse1' | 'data' | 'pad' | 'end';

export class TarEntryParser {
  private mode: Mode = 'header';
  private pos = 0;
  private readonly blocks = new BlockAssembler();
  private meta: MetaData | null = null;
  private global: PaxRecord[] = [];
  private local: PaxRecord[] = [];
  private longName: string | undefined;
  private longLink: string | undefined;
  private zeroRun = 0;
  private remaining = 0;
  private padRemaining = 0;
  private pending: { header: TarHeader; offset: number; segments: SparseSegment[] } | null = null;
  private sparse1: { entry: Omit<TarEntry, 'sparse' | 'size'>; map: Sparse1Map; size: number; realSize: number } | null = null;

  constructor(
    private readonly warn: WarningSink,
    private readonly maxMeta = 16 * 1024 * 1024,
  ) {}

  *push(chunk: Buffer): Generator<TarEvent> {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.mode) {
        case 'end':
          return;
        case 'data': {
          const k = Math.min(this.remaining, n - i);
          const bytes = chunk.subarray(i, i + k);
          i += k;
          this.pos += k;
          this.remaining -= k;
          if (k > 0) yield { kind: 'data', bytes };
          if (this.remaining === 0) yield* this.finishData();
          break;
        }
        case 'pad': {
          const k = Math.min(this.padRemaining, n - i);
          i += k;
          this.pos += k;
          this.padRemaining -= k;
          if (this.padRemaining === 0) {
            this.mode = this.afterPad;
            if (this.mode === 'data' && this.remaining === 0) yield* this.finishData();
          }
          break;
        }
        case 'meta': {
          const k = this.meta!.consume(chunk, i);
          i += k;
          this.pos += k;
          if (this.meta!.done) this.finishMeta();
          break;
        }
        case 'sparse1': {
          const s = this.sparse1!;
          const used = s.map.push(chunk.subarray(i));
          i += used;
          this.pos += used;
          if (s.map.failed) throw badArchive(this.pos, 'malformed sparse map (GNU sparse 1.0) at the start of the data');
          if (s.map.done) {
            // The map is padded to a block; the segments follow the padding.
            const mapBytes = s.map.consumed + ((BLOCK - (s.map.consumed % BLOCK)) % BLOCK);
            if (mapBytes > s.size) throw badArchive(this.pos, 'the sparse map is larger than the member');
            this.sparse1 = null;
            yield {
              kind: 'entry',
              entry: { ...s.entry, size: s.size - mapBytes, sparse: { realSize: s.realSize, segments: s.map.segments() } },
            };
            this.remaining = s.size - mapBytes;
            this.padRemaining = mapBytes - s.map.consumed;
            this.afterPad = 'data';
            this.mode = this.padRemaining > 0 ? 'pad' : 'data';
            if (this.padRemaining === 0 && this.remaining === 0) yield* this.finishData();
          }
          break;
        }
        default: {
          let block: Buffer;
          if (!this.blocks.pending && n - i >= BLOCK) {
            block = chunk.subarray(i, i + BLOCK);
            i += BLOCK;
          } else {
            const r = this.blocks.take(chunk, i);
            i += r.taken;
            if (r.block === null) break;
            block = r.block;
          }
          this.pos += BLOCK;
          yield* this.onBlock(block);
        }
      }
    }
  }

  /** What 'pad' turns into when done: the next header, or (after a sparse 1.0 map) the data. */
  private afterPad: 'header' | 'data' = 'header';
  /** Padding after the current entry's data. */
  private tailPad = 0;

  private *finishData(): Generator<TarEvent> {
    this.padRemaining = this.tailPad;
    this.afterPad = 'header';
    this.mode = this.padRemaining > 0 ? 'pad' : 'header';
    yield { kind: 'entry-end' };
  }

  /** Call at the end of input; throws when the stream stopped inside a member. */
  end(): void {
    if (this.pos === 0 && !this.blocks.pending) throw emptyInput();
    if (this.pos === 0) throw notTar();
    if (this.blocks.pending || (this.mode !== 'header' && this.mode !== 'end') || this.local.length > 0 || this.longName !== undefined) {
      throw truncated(this.pos, this.longName);
    }
    if (this.mode !== 'end') {
      this.warn({ code: 'TAR_NO_END_MARKER', message: 'the archive ends without the two zero blocks that mark its end', offset: this.pos });
    }
  }

  private *onBlock(block: Buffer): Generator<TarEvent> {
    const offset = this.pos - BLOCK;
    if (this.mode === 'ext') {
      this.pending!.segments.push(...readGnuSparseEntries(block, 0, 21));
      if (block[504] === 0) yield* this.emitEntry(this.pending!.header, offset, this.pending!.segments);
      return;
    }
    if (isZeroBlock(block)) {
      if (++this.zeroRun === 2) this.mode = 'end';
      return;
    }
    if (this.zeroRun === 1) {
      this.warn({ code: 'TAR_LONE_ZERO_BLOCK', message: `a lone zero block before the header at byte ${offset}`, offset });
      this.zeroRun = 0;
    }
    const d = decodeHeader(block);
    if (!d.ok) throw badHeader(offset, `${d.problem.field}: ${d.problem.reason}`);
    const h = d.header;
    if (isMetaType(h.typeflag)) {
      if (h.size > this.maxMeta) throw metaTooLarge(offset, h.typeflag, h.size, this.maxMeta);
      this.meta = new MetaData(h.typeflag, h.size, offset);
      this.mode = 'meta';
      if (h.size === 0) this.finishMeta();
      return;
    }
    if (h.typeflag === TYPE.gnuSparse && h.format === 'gnu') {
      const segments = readGnuSparseEntries(block, 386, 4);
      if (h.gnuExtended) {
        this.pending = { header: h, offset, segments };
        this.mode = 'ext';
        return;
      }
      yield* this.emitEntry(h, offset, segments);
      return;
    }
    yield* this.emitEntry(h, offset, undefined);
  }

  private finishMeta(): void {
    const m = this.meta!;
    this.meta = null;
    this.mode = 'header';
    if (m.typeflag === TYPE.gnuLongName || m.typeflag === TYPE.gnuLongLink) {
      const s = cString(m.data);
      if (m.typeflag === TYPE.gnuLongName) this.longName = s;
      else this.longLink = s;
      return;
    }
    const d = decodePax(m.data);
    if (!d.ok) throw badArchive(m.offset, `malformed PAX header: ${d.reason} at byte ${d.offset} of its data`);
    if (m.typeflag === TYPE.paxGlobal) this.global = [...this.global, ...d.records];
    else this.local.push(...d.records);
  }

  private *emitEntry(h: TarHeader, offset: number, gnuSegments: SparseSegment[] | undefined): Generator<TarEvent> {
    const records = this.global.length > 0 ? [...this.global, ...this.local] : this.local;
    this.local = [];
    this.pending = null;
    const str = (key: string): string | undefined => {
      const r = findRecord(records, key);
      return r && r.value.length > 0 ? r.value.toString('utf8') : undefined;
    };
    const num = (key: string): number | undefined => {
      const r = findRecord(records, key);
      return r && r.value.length > 0 ? parsePaxNumber(r.value) : undefined;
    };
    const id = (key: string): number | undefined => {
      const r = findRecord(records, key);
      return r && r.value.length > 0 ? parsePaxId(r.value) : undefined;
    };
    const sparseKind = paxSparseKind(records);
    const sparseInfo = sparseKind === 'none' ? undefined : paxSparseInfo(records);
    let path = sparseInfo?.name ?? str('path') ?? this.longName ?? h.path;
    const linkpath = str('linkpath') ?? this.longLink ?? h.linkname;
    this.longName = undefined;
    this.longLink = undefined;
    const xattrs = new Map<string, Buffer>();
    for (const r of records) {
      if (r.key.startsWith('SCHILY.xattr.')) xattrs.set(r.key.slice(13), r.value);
      else if (r.key.startsWith('LIBARCHIVE.xattr.')) {
        try {
          xattrs.set(decodeURIComponent(r.key.slice(17)), Buffer.from(r.value.toString('latin1'), 'base64'));
        } catch {
          /* not a name */
        }
      }
    }
    let type = entryType(h.typeflag);
    // v7 and old ustar writers mark directories with a trailing slash on a regular-file type.
    if ((h.typeflag === TYPE.file || h.typeflag === TYPE.oldFile) && path.endsWith('/')) type = 'dir';
    if (type === 'dir') path = path.replace(/\/+$/, '') || path;
    const size = num('size') ?? h.size;
    const base = {
      offset,
      path,
      linkpath,
      typeflag: h.typeflag,
      type,
      mode: h.mode & 0o7777,
      uid: id('uid') ?? h.uid,
      gid: id('gid') ?? h.gid,
      uname: str('uname') ?? h.uname,
      gname: str('gname') ?? h.gname,
      mtime: num('mtime') ?? h.mtime,
      atime: num('atime'),
      devmajor: h.devmajor,
      devminor: h.devminor,
      xattrs,
      aclAccess: str('SCHILY.acl.access'),
      aclDefault: str('SCHILY.acl.default'),
      records,
    };
    const stored = dataSize(h.typeflag, size);
    if (sparseKind === '1.0' && stored > 0) {
      this.sparse1 = { entry: base, map: new Sparse1Map(), size: stored, realSize: sparseInfo?.realSize ?? 0 };
      this.tailPad = (BLOCK - (stored % BLOCK)) % BLOCK;
      this.mode = 'sparse1';
      return;
    }
    let sparse: SparseMap | undefined;
    if (gnuSegments) sparse = { realSize: h.gnuRealSize, segments: gnuSegments };
    else if (sparseKind === '0.0' || sparseKind === '0.1') {
      const segments = paxSparseMapFromRecords(records);
      if (segments === undefined) throw badArchive(offset, 'malformed GNU sparse map records');
      sparse = { realSize: sparseInfo?.realSize ?? 0, segments };
    }
    yield { kind: 'entry', entry: { ...base, size: stored, sparse } };
    this.remaining = stored;
    this.tailPad = (BLOCK - (stored % BLOCK)) % BLOCK;
    this.mode = 'data';
    if (stored === 0) yield* this.finishData();
  }
}

export function entryType(typeflag: number): EntryType {
  switch (typeflag) {
    case TYPE.file:
    case TYPE.oldFile:
    case TYPE.contiguous:
    case TYPE.gnuSparse:
      return 'file';
    case TYPE.hardlink:
      return 'hardlink';
    case TYPE.symlink:
      return 'symlink';
    case TYPE.char:
      return 'char';
    case TYPE.block:
      return 'block';
    case TYPE.dir:
    case TYPE.gnuDumpDir:
      return 'dir';
    case TYPE.fifo:
      return 'fifo';
    default:
      return 'other';
  }
}
