import { type FramedLine, LineFramer } from './line-framer.js';
import type { Peer, ReceivedFd } from './peer.js';

/** An answer (or the rest of one) waiting to be sent, with the descriptors that go with its first byte. */
export interface Pending {
  data: Buffer;
  fds: number[];
}

/** A descriptor that came with a line: usable, or set aside (already on the quarantine thread). */
export type Attached = ReceivedFd | { readonly fd: -1; readonly kind: 'rejected'; readonly what: string };

/** One client connection's state in the server loop. */
export class Connection {
  readonly framer: LineFramer<Attached>;
  readonly queue: FramedLine<Attached>[] = [];
  readonly out: Pending[] = [];
  busy = false;
  closing = false;
  closeAfterWrite = false;
  lineStarted: number | null = null;
  lastActive: number;
  writeBlockedSince: number | null = null;
  rateRefusals = 0;

  constructor(
    readonly fd: number,
    readonly peer: Peer,
    maxLine: number,
    now: number,
  ) {
    this.framer = new LineFramer(maxLine);
    this.lastActive = now;
  }
}
