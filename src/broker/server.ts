import { classifyFd } from '../kernel/userns/received-fd.js';
import { FdQuarantine } from '../kernel/socket/fd-quarantine.js';
import {
  acceptConnection,
  closeDescriptor,
  descriptorUse,
  disarmLinger,
  peerCredentials,
  peerGroups,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  type PollEntry,
  pollReady,
  receive,
  send,
  unixSocketPair,
} from '../kernel/socket/unix-socket.js';
import type { AuditPeer, AuditSink } from './audit-log.js';
import { type Attached, Connection } from './connection.js';
import { type Account, describeAccount, STRANGER } from './account.js';
import { type Limits, limitsOfAccount, RateLimiter } from './limits.js';
import type { Peer, RequestHandler } from './peer.js';
import { auditView, errorAnswer, FDS_PER_OP, type Request, type RequestId } from './protocol.js';
import { type LineRunner, serveLine } from './request-runner.js';

/** No request takes more descriptors than this (setmaps: a namespace and a pidfd). */
const MAX_FDS_PER_LINE = Math.max(...Object.values(FDS_PER_OP));

/**
 * The broker's connection loop. One thread, no blocking: a poll(2) on a
 * koffi worker thread waits for the listening socket, every connection, a
 * wake-up socket and the processes of tracked namespaces; the event loop
 * then accepts, reads, answers and times out.
 *
 * - Each connection's peer is what SO_PEERCRED said at accept.
 * - A connection serves one request at a time (answers come in order);
 *   a few more lines may wait, then reading stops (back-pressure).
 * - A line must be complete within lineTimeoutMs of its first byte and at
 *   most maxLineBytes long; an idle connection is closed after
 *   idleTimeoutMs; an answer the peer does not read within writeTimeoutMs
 *   closes it. One read per connection per round, so a fast sender cannot
 *   starve the others.
 * - Requests are rate limited per uid (token bucket), connections are
 *   limited per uid and in total.
 * - Received descriptors that are not a user namespace or a pidfd are
 *   passed to the quarantine thread, never used or closed here.
 */
export interface ServerOptions {
  readonly listenFd: number;
  readonly limits: Limits;
  readonly audit: AuditSink;
  readonly handler: RequestHandler;
  /** passwd name of a uid (for per-user limits and the audit log). */
  readonly userName?: (uid: number) => string | null;
  /** Descriptors to watch for exit (pidfds of namespaces); called back when one becomes readable. */
  readonly watched?: () => readonly number[];
  readonly onWatchedReady?: (fd: number) => void;
  /** Whom a uid counts as for limits (default: itself). */
  readonly accountOf?: (uid: number, user: string | null) => Account;
  readonly now?: () => number;
}

export class BrokerServer {
  private readonly conns = new Map<number, Connection>();
  /** Open connections per account (account.ts), not per raw uid. */
  private readonly perAccount = new Map<string, number>();
  /** The accounts seen, by key (for the rate limiter's sweep). */
  private readonly accounts = new Map<string, Account>();
  private readonly limiter = new RateLimiter();
  private readonly quarantine = new FdQuarantine();
  private readonly wake: [number, number];
  private wakePending = false;
  private stopping = false;
  private nextConn = 1;
  private loopDone: Promise<void> | null = null;
  /** After accept4 failed (EMFILE, ENFILE, ENOMEM), the listening socket is left alone until then. */
  private acceptPausedUntil = 0;
  private readonly inflight = new Set<Promise<void>>();
  private readonly now: () => number;
  private readonly runner: LineRunner;

  constructor(private readonly o: ServerOptions) {
    this.now = o.now ?? Date.now;
    this.wake = unixSocketPair();
    this.runner = {
      limits: o.limits,
      limiter: this.limiter,
      handler: o.handler,
      now: this.now,
      respond: (c, text, fds) => {
        if (!c.closing) this.enqueue(c, text, fds);
      },
      fail: (c, code, message, hint) => this.protocolFailure(c, code, message, hint),
      audit: (peer, request, decision, code, reason, extra) =>
        this.audit(peer, request, decision, code, reason, extra?.result, extra?.view, extra?.context, extra?.id),
      release: (fds) => this.release(fds),
    };
  }

  /** Starts serving; resolves when stop() has finished. */
  start(): Promise<void> {
    this.loopDone ??= this.loop();
    return this.loopDone;
  }

  /** Number of open connections (for tests and status). */
  get connections(): number {
    return this.conns.size;
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.loopDone ?? undefined;
    this.stopping = true;
    this.poke();
    await this.loopDone;
  }

  private poke(): void {
    if (this.wakePending) return;
    this.wakePending = true;
    try {
      send(this.wake[1], Buffer.from([1]));
    } catch {
      /* the loop is already gone */
    }
  }

  private async loop(): Promise<void> {
    const { server } = this.o.limits;
    try {
      while (!this.stopping) {
        const conns = [...this.conns.values()].filter((c) => !c.closing);
        const watched = this.o.watched?.() ?? [];
        const entries: PollEntry[] = [
          { fd: this.o.listenFd, events: this.now() >= this.acceptPausedUntil ? POLLIN : 0 },
          { fd: this.wake[0], events: POLLIN },
          ...conns.map((c) => ({ fd: c.fd, events: (this.wantsRead(c) ? POLLIN : 0) | (c.out.length > 0 ? POLLOUT : 0) })),
          ...watched.map((fd) => ({ fd, events: POLLIN })),
        ];
        const rev = await pollReady(entries, this.nextTimeout());
        if (this.stopping) break;
        if (rev[1] !== 0) this.drainWake();
        conns.forEach((c, i) => {
          const r = rev[2 + i];
          if (r === 0 || c.closing || this.conns.get(c.fd) !== c) return;
          if (r & (POLLIN | POLLHUP | POLLERR)) this.readFrom(c);
          if (!c.closing && r & POLLOUT) this.flush(c);
          if (!c.closing && r & POLLNVAL) this.close(c);
        });
        watched.forEach((fd, i) => {
          if (rev[2 + conns.length + i] !== 0) this.o.onWatchedReady?.(fd);
        });
        if (rev[0] & POLLIN) this.acceptAll(server.maxConnections);
        this.sweep();
      }
    } finally {
      for (const c of [...this.conns.values()]) this.close(c);
      await Promise.allSettled([...this.inflight]);
      closeDescriptor(this.wake[0]);
      closeDescriptor(this.wake[1]);
      await this.quarantine.drain(1000);
    }
  }

  private wantsRead(c: Connection): boolean {
    return !c.closeAfterWrite && c.queue.length < this.o.limits.server.maxQueuedRequests;
  }

  private drainWake(): void {
    this.wakePending = false;
    while (receive(this.wake[0], 64)?.data.length) {
      /* empty it */
    }
  }

  /** Milliseconds until the nearest timeout (at most one second, so limits files and sweeps stay fresh). */
  private nextTimeout(): number {
    const s = this.o.limits.server;
    const now = this.now();
    let t = now + 1000;
    if (this.acceptPausedUntil > now) t = Math.min(t, this.acceptPausedUntil);
    for (const c of this.conns.values()) {
      if (c.lineStarted !== null) t = Math.min(t, c.lineStarted + s.lineTimeoutMs);
      if (c.writeBlockedSince !== null) t = Math.min(t, c.writeBlockedSince + s.writeTimeoutMs);
      if (!c.busy && c.queue.length === 0 && c.out.length === 0) t = Math.min(t, c.lastActive + s.idleTimeoutMs);
    }
    return Math.max(0, t - now);
  }

  private acceptAll(max: number): void {
    // A reserve of descriptors stays free for answering, the registry and reading /etc: no new connection eats into it.
    const use = descriptorUse();
    if (use.open + this.o.limits.server.fdReserve >= use.limit) {
      this.acceptPausedUntil = this.now() + 200;
      return;
    }
    for (let i = 0; i < 64; i++) {
      let fd: number | null;
      try {
        fd = acceptConnection(this.o.listenFd);
      } catch {
        // EMFILE and the like: the pending connection stays readable, so polling it now would spin.
        this.acceptPausedUntil = this.now() + 200;
        return;
      }
      if (fd === null) return;
      this.admit(fd, max);
    }
  }

  private admit(fd: number, max: number): void {
    let peer: Peer;
    try {
      const cred = peerCredentials(fd);
      let groups: number[] = [];
      try {
        groups = peerGroups(fd);
      } catch {
        /* kernels before 4.13: no supplementary groups */
      }
      const user = this.o.userName?.(cred.uid) ?? null;
      let account: Account = { key: `uid:${cred.uid}`, uid: cred.uid, user, via: 'own' };
      try {
        if (this.o.accountOf) account = this.o.accountOf(cred.uid, user);
      } catch {
        // The host files could not be read: whom it counts as is unknown, so it gets the least.
        account = STRANGER;
      }
      peer = { ...cred, groups, user, conn: this.nextConn++, account };
    } catch {
      closeDescriptor(fd);
      return;
    }
    const ul = limitsOfAccount(this.o.limits, peer.account);
    const refuseNow = (code: string, message: string, hint: string) => {
      this.audit(peer, null, 'refused', code, message);
      try {
        send(fd, Buffer.from(errorAnswer(null, { code, message, hint })));
      } catch {
        /* gone already */
      }
      closeDescriptor(fd);
    };
    if (this.conns.size >= max)
      return refuseNow('ERR_BROKER_BUSY', `the broker has ${this.conns.size} connections, its limit`, 'try again later');
    if ((this.perAccount.get(peer.account.key) ?? 0) >= ul.connections) {
      return refuseNow(
        'ERR_BROKER_LIMIT',
        `${describeAccount(peer)} already has ${ul.connections} connections open, its limit`,
        "close some connections; the limit is set in the broker's --limits file",
      );
    }
    if (this.quarantine.outstanding(peer.account.key) >= this.o.limits.server.maxQuarantinedFds) {
      return refuseNow(
        'ERR_BROKER_LIMIT',
        `descriptors ${describeAccount(peer)} sent earlier are still being closed (their file system does not answer)`,
        'send only the descriptors a request takes',
      );
    }
    const c = new Connection(fd, peer, this.o.limits.server.maxLineBytes, this.now());
    this.conns.set(fd, c);
    this.perAccount.set(peer.account.key, (this.perAccount.get(peer.account.key) ?? 0) + 1);
    this.accounts.set(peer.account.key, peer.account);
  }

  private readFrom(c: Connection): void {
    let r;
    try {
      r = receive(c.fd);
    } catch {
      return this.close(c);
    }
    if (r === null) return;
    const attached = r.fds.map((fd) => this.classify(c, fd));
    if (!r.eof && c.framer.pendingFdCount + attached.length > MAX_FDS_PER_LINE) {
      // Counted as they arrive: a line may carry at most what one request takes, however its bytes are cut.
      this.release(attached);
      this.protocolFailure(
        c,
        'ERR_BROKER_FDS',
        `a request line carried more than ${MAX_FDS_PER_LINE} descriptors (no request takes more); connection closed`,
        'send the descriptors a request takes with that request line only',
      );
      return;
    }
    if (!r.eof && this.quarantine.outstanding(c.peer.account.key) > this.o.limits.server.maxQuarantinedFds) {
      this.release(attached);
      this.protocolFailure(
        c,
        'ERR_BROKER_FDS',
        `${describeAccount(c.peer)} sent descriptors no request takes faster than they can be closed; connection closed`,
        'send only the descriptors a request takes',
      );
      return;
    }
    if (r.eof) {
      this.release(attached);
      // Half-closed: answer what is queued, then close.
      c.closeAfterWrite = true;
      if (!c.busy && c.queue.length === 0 && c.out.length === 0) this.close(c);
      return;
    }
    c.lastActive = this.now();
    const { lines, overflow } = c.framer.push(r.data, attached);
    c.queue.push(...lines);
    c.lineStarted = c.framer.partial ? (c.lineStarted ?? this.now()) : null;
    if (overflow) {
      this.protocolFailure(
        c,
        'ERR_BROKER_LINE_TOO_LONG',
        `a request line is longer than ${this.o.limits.server.maxLineBytes} bytes`,
        'send one JSON object per line; maps fit easily',
      );
      return;
    }
    if (r.fdsTruncated) {
      this.protocolFailure(
        c,
        'ERR_BROKER_FDS',
        'a message carried more descriptors than any request takes; the extra ones were dropped',
        'send only the descriptors the request takes',
      );
      return;
    }
    this.dispatch(c);
  }

  /** User-namespace and pidfd descriptors are kept; anything else goes to the quarantine thread at once. */
  private classify(c: Connection, fd: number): Attached {
    const k = classifyFd(fd);
    if (k.kind === 'userns' || k.kind === 'pidfd') return { fd, kind: k.kind };
    if (k.kind === 'other' && k.link.startsWith('socket:[') && disarmLinger(fd)) {
      // Without SO_LINGER a socket's close returns at once: no thread needed, nothing left open.
      closeDescriptor(fd);
      return { fd: -1, kind: 'rejected', what: 'a socket' };
    }
    this.quarantine.dispose(fd, c.peer.account.key);
    const what = k.kind === 'namespace' ? `a ${k.type} namespace` : k.link.startsWith('/') ? 'a file' : k.link.replace(/\[\d+\]$/, '');
    return { fd: -1, kind: 'rejected', what };
  }

  /** Closes usable descriptors (set-aside ones are the quarantine thread's). */
  private release(fds: readonly (Attached | number)[]): void {
    for (const f of fds) {
      const fd = typeof f === 'number' ? f : f.fd;
      if (fd >= 0) closeDescriptor(fd);
    }
  }

  private dispatch(c: Connection): void {
    // One request at a time, and only once the last answer is on its way: a peer that does not read gets no more work done.
    if (c.busy || c.closing || c.out.length > 0) return;
    const line = c.queue.shift();
    if (!line) {
      if (c.closeAfterWrite && c.out.length === 0) this.close(c);
      return;
    }
    c.busy = true;
    const p = serveLine(this.runner, c, line).finally(() => {
      this.inflight.delete(p);
      c.busy = false;
      c.lastActive = this.now();
      if (!c.closing) this.dispatch(c);
      this.poke();
    });
    this.inflight.add(p);
  }

  /** The stream cannot be trusted any more: answer once, stop reading, close when written. */
  private protocolFailure(c: Connection, code: string, message: string, hint: string): void {
    this.audit(c.peer, null, 'refused', code, message);
    for (const line of c.queue.splice(0)) this.release(line.fds);
    this.release(c.framer.takePendingFds());
    c.closeAfterWrite = true;
    c.lineStarted = null;
    this.enqueue(c, errorAnswer(null, { code, message, hint }), []);
  }

  private enqueue(c: Connection, text: string, fds: readonly number[]): void {
    c.out.push({ data: Buffer.from(text, 'utf8'), fds: [...fds] });
    this.flush(c);
  }

  private flush(c: Connection): void {
    while (c.out.length > 0 && !c.closing) {
      const p = c.out[0];
      let n: number;
      try {
        n = send(c.fd, p.data, p.fds);
      } catch {
        return this.close(c);
      }
      if (n === 0) {
        c.writeBlockedSince ??= this.now();
        return;
      }
      c.writeBlockedSince = null;
      if (p.fds.length > 0) {
        // The kernel holds its own references now.
        this.release(p.fds);
        p.fds = [];
      }
      if (n < p.data.length) {
        p.data = p.data.subarray(n);
      } else {
        c.out.shift();
      }
    }
    if (c.out.length === 0 && c.closeAfterWrite && !c.busy && c.queue.length === 0) this.close(c);
    else if (c.out.length === 0) this.dispatch(c);
  }

  private sweep(): void {
    const s = this.o.limits.server;
    const now = this.now();
    for (const c of [...this.conns.values()]) {
      if (c.closing) continue;
      if (c.writeBlockedSince !== null && now - c.writeBlockedSince > s.writeTimeoutMs) {
        this.audit(
          c.peer,
          null,
          'refused',
          'ERR_BROKER_TIMEOUT',
          `the peer did not read its answer within ${s.writeTimeoutMs} ms; connection closed`,
        );
        this.close(c);
      } else if (c.lineStarted !== null && now - c.lineStarted > s.lineTimeoutMs) {
        this.protocolFailure(
          c,
          'ERR_BROKER_TIMEOUT',
          `a request line was not completed within ${s.lineTimeoutMs} ms`,
          'send each request as one complete line',
        );
      } else if (!c.busy && c.queue.length === 0 && c.out.length === 0 && now - c.lastActive > s.idleTimeoutMs) {
        this.close(c);
      }
    }
    this.limiter.sweep((key) => limitsOfAccount(this.o.limits, this.accounts.get(key) ?? { uid: null, user: null }), now);
    for (const key of this.accounts.keys()) if (!this.perAccount.has(key) && !this.limiter.has(key)) this.accounts.delete(key);
    (this.o.audit as { flush?: () => void }).flush?.();
  }

  private close(c: Connection): void {
    if (c.closing) return;
    c.closing = true;
    this.conns.delete(c.fd);
    const n = (this.perAccount.get(c.peer.account.key) ?? 1) - 1;
    if (n <= 0) this.perAccount.delete(c.peer.account.key);
    else this.perAccount.set(c.peer.account.key, n);
    for (const line of c.queue.splice(0)) this.release(line.fds);
    this.release(c.framer.takePendingFds());
    for (const p of c.out.splice(0)) this.release(p.fds);
    closeDescriptor(c.fd);
  }

  private audit(
    peer: Peer,
    request: Request | null,
    decision: 'allowed' | 'refused' | 'failed',
    code: string | null,
    reason: string,
    result?: unknown,
    view?: Record<string, unknown> | null,
    context?: Record<string, unknown>,
    id?: RequestId,
  ): void {
    const p: AuditPeer = {
      uid: peer.uid,
      gid: peer.gid,
      pid: peer.pid,
      user: peer.user,
      ...(peer.account.via !== 'own' ? { account: peer.account.key } : {}),
    };
    this.o.audit.record({
      peer: p,
      conn: peer.conn,
      op: request?.op ?? null,
      id: request?.id ?? id ?? null,
      request: view ?? (request ? auditView(request) : null),
      decision,
      code,
      reason,
      ...(result !== undefined ? { result } : {}),
      ...(context && Object.keys(context).length > 0 ? { context } : {}),
    });
  }
}
