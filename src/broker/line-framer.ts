/**
 * Splits a byte stream into request lines and pairs each line with the
 * descriptors that arrived with it. The kernel delivers SCM_RIGHTS with the
 * bytes of the sendmsg that carried them and never merges them into a read
 * with bytes sent later, so descriptors belong to the line in which the
 * first byte of their chunk falls. A line longer than maxLine is an
 * overflow: the stream cannot be trusted to resynchronise after it, so the
 * caller answers and closes. Pure.
 */
export interface FramedLine<T> {
  readonly text: string;
  /** What came with the line's bytes (descriptors, or what the caller made of them). */
  readonly fds: T[];
}

export class LineFramer<T> {
  private chunks: Buffer[] = [];
  private size = 0;
  private fds: T[] = [];

  constructor(private readonly maxLine: number) {}

  /** True while part of a line has been received. */
  get partial(): boolean {
    return this.size > 0 || this.fds.length > 0;
  }

  /** How many descriptors the line being received carries so far. */
  get pendingFdCount(): number {
    return this.fds.length;
  }

  /** Descriptors of the line being received (handed back on close). */
  takePendingFds(): T[] {
    const f = this.fds;
    this.fds = [];
    return f;
  }

  push(data: Buffer, fds: readonly T[]): { lines: FramedLine<T>[]; overflow: boolean } {
    this.fds.push(...fds);
    const lines: FramedLine<T>[] = [];
    let start = 0;
    for (;;) {
      const nl = data.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = data.subarray(start, nl);
      if (this.size + piece.length > this.maxLine) return { lines, overflow: true };
      this.chunks.push(piece);
      const text = Buffer.concat(this.chunks).toString('utf8');
      lines.push({ text: text.endsWith('\r') ? text.slice(0, -1) : text, fds: this.fds });
      this.chunks = [];
      this.size = 0;
      this.fds = [];
      start = nl + 1;
    }
    const rest = data.subarray(start);
    if (this.size + rest.length > this.maxLine) return { lines, overflow: true };
    if (rest.length > 0) {
      // Copy: the receive buffer is reused.
      this.chunks.push(Buffer.from(rest));
      this.size += rest.length;
    }
    return { lines, overflow: false };
  }
}
