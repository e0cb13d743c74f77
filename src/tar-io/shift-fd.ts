import { readSync, writeSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { IdShifter } from '../tar/id-shift.js';
import { TarShiftCore } from '../tar/shift-core.js';
import type { TarWarning } from '../tar/warnings.js';
import { detectCompression } from './compression.js';
import { type ShiftTarOptions, type TarShiftResult, shiftTarStream } from './shift-stream.js';

/**
 * `tar shift` between two file descriptors (the CLI's stdin/stdout or
 * files). Uncompressed in and out, it runs a read → shift → write loop with
 * blocking read(2)/write(2) on one reused 1 MiB buffer: the core emits views
 * of that buffer and they are written before the next read, so nothing is
 * copied and memory stays at one buffer. This is what lets the shift keep up
 * with `cat` on archives of large files; node streams cost three to four times
 * as much per byte here. The loop yields to the event loop every few MiB so
 * signals (and the atomic writer's cleanup) are handled promptly.
 *
 * The core emits several small pieces per entry when entries carry PAX
 * headers (header, records, padding, then the run with the entry): written
 * one by one, that was about five write(2) calls per entry, the largest cost
 * on an archive of 100,000 small PAX entries (docs/tar.md). Pieces under
 * COALESCE bytes are copied into one output buffer written when full (a copy
 * costs far less than a system call at that size); larger ones, the data of
 * big files, are still written straight from the input buffer, after what
 * is buffered, so the order of the bytes is kept.
 * With gzip on either side it hands over to the stream pipeline.
 */
const CHUNK = 1 << 20;
const YIELD_EVERY = 16;
const COALESCE = 64 << 10;

/** Small pieces gathered into one buffer; large ones written directly, in order. */
class CoalescedWriter {
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private len = 0;

  constructor(private readonly fd: number) {}

  write(piece: Buffer): void {
    if (piece.length >= COALESCE) {
      this.flush();
      writeAll(this.fd, piece);
      return;
    }
    if (this.len + piece.length > this.buf.length) this.flush();
    piece.copy(this.buf, this.len);
    this.len += piece.length;
  }

  flush(): void {
    if (this.len === 0) return;
    writeAll(this.fd, this.buf.subarray(0, this.len));
    this.len = 0;
  }
}

export async function shiftTarFd(inFd: number, outFd: number, options: ShiftTarOptions): Promise<TarShiftResult> {
  let warnings = 0;
  const onWarning = (w: TarWarning): void => {
    warnings++;
    options.onWarning?.(w);
  };
  const shifter = new IdShifter(options);
  const buf = Buffer.allocUnsafe(CHUNK);
  let n = await readSome(inFd, buf, 0);
  while (n > 0 && n < 6) {
    const k = await readSome(inFd, buf, n);
    if (k === 0) break;
    n += k;
  }
  const compression = n === 0 ? 'none' : detectCompression(buf.subarray(0, n));
  if (compression === 'gzip' || options.gzip) {
    return shiftTarStream(fdReadable(inFd, Buffer.from(buf.subarray(0, n))), fdWritable(outFd), options);
  }
  const out = new CoalescedWriter(outFd);
  const core = new TarShiftCore({ shifter, warn: onWarning }, (piece) => out.write(piece));
  let rounds = 0;
  try {
    while (n > 0) {
      core.push(buf.subarray(0, n));
      if (++rounds % YIELD_EVERY === 0) {
        // What is buffered goes out before waiting: a reader of a slow stream sees it promptly.
        out.flush();
        await new Promise((r) => setImmediate(r));
      }
      n = await readSome(inFd, buf, 0);
    }
    core.end();
  } catch (e) {
    // Everything emitted before the failure is written, as when each piece was written at once.
    try {
      out.flush();
    } catch {
      /* the first error is the one to report */
    }
    throw e;
  }
  out.flush();
  return { ...core.stats, input: 'none', output: 'none', ids: { ...shifter.stats }, warnings };
}

/** One read(2); a non-blocking descriptor that has nothing yet is waited for instead of failing. */
async function readSome(fd: number, buf: Buffer, at: number): Promise<number> {
  for (;;) {
    try {
      return readSync(fd, buf, at, buf.length - at, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      await new Promise((r) => setTimeout(r, 1));
    }
  }
}

function writeAll(fd: number, piece: Buffer): void {
  let off = 0;
  while (off < piece.length) {
    try {
      off += writeSync(fd, piece, off, piece.length - off);
    } catch (e) {
      // A non-blocking pipe that is full: wait for the reader (busy-waiting briefly is
      // acceptable here; the CLI reopens pipes blocking, so this is the rare path).
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

/**
 * A byte stream over a descriptor the caller keeps owning (fs.createReadStream
 * closes its descriptor when destroyed, even with autoClose false).
 */
export function fdReadable(fd: number, first: Buffer = Buffer.alloc(0)): Readable {
  return Readable.from(
    (async function* () {
      if (first.length > 0) yield first;
      for (;;) {
        const b = Buffer.allocUnsafe(CHUNK);
        const k = await readSome(fd, b, 0);
        if (k === 0) return;
        yield b.subarray(0, k);
      }
    })(),
    { objectMode: false },
  );
}

/** A writable over a descriptor the caller keeps owning. */
export function fdWritable(fd: number): Writable {
  return new Writable({
    highWaterMark: CHUNK,
    write(chunk: Buffer, _enc, cb) {
      try {
        writeAll(fd, chunk);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
}
