import type { Account } from './account.js';
import type { Request } from './protocol.js';

/**
 * Who is asking, as the kernel told the broker (SO_PEERCRED and
 * SO_PEERGROUPS at connect time) — never anything the client said.
 */
export interface Peer {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  /** Supplementary groups at connect(2), used when walking paths as the peer. */
  readonly groups: readonly number[];
  /** The passwd name of uid, if it has one. */
  readonly user: string | null;
  /** Connection number, for the audit log. */
  readonly conn: number;
  /** Whom the peer counts as for every limit (its owner when its uid is someone's subordinate): see account.ts. */
  readonly account: Account;
}

/** What a received descriptor was found to be (see kernel/userns/received-fd.ts). */
export interface ReceivedFd {
  readonly fd: number;
  readonly kind: 'userns' | 'pidfd';
}

/** A request's context: the peer, its descriptors, and a way to keep one beyond the request. */
export interface RequestContext {
  readonly peer: Peer;
  readonly fds: readonly ReceivedFd[];
  /** Takes ownership of one of fds: the server will not close it after the request. */
  adopt(fd: number): void;
}

export interface HandlerResult {
  readonly result: Record<string, unknown>;
  /** Descriptors to send with the answer; the server closes them once sent (or if the peer is gone). */
  readonly fds?: readonly number[];
  /** What the audit line says was done. */
  readonly reason: string;
}

export type RequestHandler = (request: Request, ctx: RequestContext) => Promise<HandlerResult>;
