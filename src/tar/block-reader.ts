import { BLOCK } from './header.js';

/**
 * The two ways a tar reader takes bytes from chunks that split the stream at
 * arbitrary places: whole 512-byte blocks (assembled from two chunks when a
 * block straddles them), and a meta header's data plus its padding (copied,
 * since it must outlive the chunk). Shared by the shifter and the entry
 * parser. Pure.
 */
export class BlockAssembler {
  private partial: Buffer | null = null;
  private filled = 0;

  /** True while part of a block is waiting for the next chunk. */
  get pending(): boolean {
    return this.filled > 0;
  }

  /**
   * Takes bytes from `chunk` at `at` into the pending block. Returns the
   * bytes taken and the block once it is complete (a new buffer each time).
   */
  take(chunk: Buffer, at: number): { taken: number; block: Buffer | null } {
    this.partial ??= Buffer.allocUnsafe(BLOCK);
    const k = Math.min(BLOCK - this.filled, chunk.length - at);
    chunk.copy(this.partial, this.filled, at, at + k);
    this.filled += k;
    if (this.filled < BLOCK) return { taken: k, block: null };
    const block = this.partial;
    this.partial = null;
    this.filled = 0;
    return { taken: k, block };
  }
}

/** The data of a meta header (PAX, GNU long name) being collected, then its padding skipped. */
export class MetaData {
  readonly data: Buffer;
  private filled = 0;
  private padding: number;

  constructor(
    readonly typeflag: number,
    size: number,
    readonly offset: number,
  ) {
    this.data = Buffer.allocUnsafe(size);
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
  }

  get done(): boolean {
    return this.filled === this.data.length && this.padding === 0;
  }

  /** Consumes from `chunk` at `at`; returns how many bytes it took. */
  consume(chunk: Buffer, at: number): number {
    let i = at;
    if (this.filled < this.data.length) {
      const k = Math.min(this.data.length - this.filled, chunk.length - i);
      chunk.copy(this.data, this.filled, i, i + k);
      this.filled += k;
      i += k;
    }
    if (this.filled === this.data.length && this.padding > 0) {
      const k = Math.min(this.padding, chunk.length - i);
      this.padding -= k;
      i += k;
    }
    return i - at;
  }
}
