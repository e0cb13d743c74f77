import { BLOCK } from './header.js';

/**
 * How the shift emits its output without copying: the current input chunk is
 * emitted in runs (views of the chunk), and a block that must leave its place
 * (a PAX header held back, a block assembled across two chunks) is cut out of
 * the run and emitted separately. Headers patched in place stay in the run.
 * Pure.
 */
export class ChunkRuns {
  bytesOut = 0;
  private chunk: Buffer = Buffer.alloc(0);
  /** Start of the part of the current chunk not yet emitted. */
  private start = 0;

  constructor(private readonly emit: (piece: Buffer) => void) {}

  begin(chunk: Buffer): void {
    this.chunk = chunk;
    this.start = 0;
  }

  /** Emits a piece now (a copy or a new block), after flushing the run before it if the caller did. */
  out(piece: Uint8Array): void {
    if (piece.length === 0) return;
    this.bytesOut += piece.length;
    this.emit(Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.length));
  }

  /** Emits the run of the current chunk up to `end`. */
  flush(end: number): void {
    if (end > this.start) this.out(this.chunk.subarray(this.start, end));
    this.start = Math.max(this.start, end);
  }

  /** Bytes of the chunk before `end` were consumed elsewhere (copied into a block or held): they leave the run. */
  skipTo(end: number): void {
    this.start = end;
  }

  /** The position the next flush starts from. */
  get runStart(): number {
    return this.start;
  }

  /** Takes the block at `at` in the chunk (or a copied block, at -1) out of the run. */
  detach(at: number): void {
    if (at >= 0) {
      this.flush(at);
      this.start = at + BLOCK;
    }
  }

  /** Emits a block at its place: a block inside the chunk stays in the run; a copied one goes out now. */
  place(block: Uint8Array, at: number): void {
    if (at < 0) this.out(block);
  }
}
