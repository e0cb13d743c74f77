import { Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zc, createGunzip, createGzip } from 'node:zlib';
import { IdShifter, type ShiftOptions, type IdShiftStats } from '../tar/id-shift.js';
import { type ShiftCoreStats, TarShiftCore } from '../tar/shift-core.js';
import type { TarWarning } from '../tar/warnings.js';
import { type Compression, detectCompression, peekStream } from './compression.js';

/**
 * `fsidmap tar shift` as a library call: an archive stream in, the shifted
 * archive stream out, through node streams with backpressure (pipeline), so
 * memory stays at a few chunks whatever the archive's size. gzip input is
 * recognised by its magic bytes; gzip output is asked for explicitly.
 */
export interface TarShiftStreamOptions extends ShiftOptions {
  /**
   * The chunks written to the transform are fresh buffers nobody else reads
   * (zlib's output, fs streams): headers are then patched in them in place.
   * Default false: each chunk is copied first, so a caller's buffers are
   * never modified.
   */
  readonly ownsChunks?: boolean;
  /** Called for each coded warning (bad but survivable stream data). */
  readonly onWarning?: (w: TarWarning) => void;
  /** Largest PAX / long-name header accepted (default 16 MiB). */
  readonly maxMetaSize?: number;
}

export interface TarShiftResult extends ShiftCoreStats {
  readonly input: Compression;
  readonly output: Compression;
  readonly ids: IdShiftStats;
  readonly warnings: number;
}

/** A Transform over uncompressed tar bytes. Throws (as a stream error) FsidmapError ERR_TAR_* on data it cannot shift correctly. */
export class TarShiftTransform extends Transform {
  readonly core: TarShiftCore;
  readonly shifter: IdShifter;
  warnings = 0;
  private readonly ownsChunks: boolean;

  constructor(options: TarShiftStreamOptions) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    // Options are validated here, before any byte is read (caller mistakes throw synchronously).
    this.shifter = new IdShifter(options);
    this.ownsChunks = options.ownsChunks ?? false;
    this.core = new TarShiftCore(
      {
        shifter: this.shifter,
        warn: (w) => {
          this.warnings++;
          options.onWarning?.(w);
        },
        ...(options.maxMetaSize === undefined ? {} : { maxMetaSize: options.maxMetaSize }),
      },
      (piece) => {
        this.push(piece);
      },
    );
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    try {
      this.core.push(this.ownsChunks ? chunk : Buffer.from(chunk));
      callback();
    } catch (e) {
      callback(e as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.core.end();
      callback();
    } catch (e) {
      callback(e as Error);
    }
  }
}

export interface ShiftTarOptions extends TarShiftStreamOptions {
  /** Compress the output with gzip. */
  readonly gzip?: boolean;
  /** gzip level 1-9 (default 6, as gzip(1)). */
  readonly gzipLevel?: number;
}

/**
 * Shifts the archive read from `input` into `output`. Resolves with the
 * statistics once `output` has been written and ended; rejects with the first
 * error (the output is then incomplete: it never ends with a valid end
 * marker, so no reader takes it for a whole archive).
 */
export async function shiftTarStream(input: Readable, output: Writable, options: ShiftTarOptions): Promise<TarShiftResult> {
  new IdShifter(options); // validates the options before the first byte is read
  const { head, stream } = await peekStream(input, 6);
  const compression = head.length === 0 ? 'none' : detectCompression(head);
  // Behind our own gunzip the chunks are zlib's fresh buffers: no need to copy them.
  const transform = new TarShiftTransform({ ...options, ownsChunks: compression === 'gzip' || (options.ownsChunks ?? false) });
  const stages: Array<NodeJS.ReadableStream | NodeJS.WritableStream | NodeJS.ReadWriteStream> = [stream];
  if (compression === 'gzip') stages.push(createGunzip({ chunkSize: 1 << 18 }));
  stages.push(transform);
  if (options.gzip) stages.push(createGzip({ level: options.gzipLevel ?? zc.Z_DEFAULT_COMPRESSION, chunkSize: 1 << 18 }));
  stages.push(output);
  await pipeline(stages as unknown as [Readable, Writable]);
  return {
    ...transform.core.stats,
    input: compression,
    output: options.gzip ? 'gzip' : 'none',
    ids: { ...transform.shifter.stats },
    warnings: transform.warnings,
  };
}

/** Convenience for tests and small archives: shifts a whole buffer in memory. */
export async function shiftTarBuffer(archive: Uint8Array, options: ShiftTarOptions): Promise<{ archive: Buffer; result: TarShiftResult }> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      parts.push(Buffer.from(chunk));
      cb();
    },
  });
  const result = await shiftTarStream(Readable.from([Buffer.from(archive)]), sink, options);
  return { archive: Buffer.concat(parts), result };
}
