import { closeSync, constants, fstatSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { FsidmapError } from '../errors.js';
import { AuditBudget, auditLine } from './audit-record.js';

/**
 * The broker's audit log: one JSON object per line for every decision —
 * time, the peer as the kernel named it (uid, gid, pid), the request, the
 * decision (allowed, refused, failed) and the reason. Opened once with
 * O_APPEND (lines from one process never interleave) and O_NOFOLLOW; "-"
 * writes to stderr (journald under systemd).
 *
 * Every request the rate limit lets through gets its own line, so the log
 * grows at most at the limit's pace. Requests refused for going over the
 * rate limit would let a flooding peer fill the disk at the speed of its
 * socket: those are logged one by one up to `refusalsPerSecond` per peer,
 * then counted, and the count is written as one "suppressed" line when the
 * next second begins.
 */
export type Decision = 'allowed' | 'refused' | 'failed';

export interface AuditPeer {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  readonly user: string | null;
  /** The account the peer counts as, when not itself ("uid:N" of its owner, or "stranger"). */
  readonly account?: string;
}

export interface AuditRecord {
  readonly peer: AuditPeer | null;
  readonly conn: number | null;
  readonly op: string | null;
  readonly id: string | number | null;
  readonly request: Record<string, unknown> | null;
  readonly decision: Decision;
  readonly code: string | null;
  readonly reason: string;
  readonly result?: unknown;
}

export interface AuditSink {
  record(r: AuditRecord): void;
}

/** Bounds of the log (docs/broker.md, "Audit log"). */
export interface AuditLimits {
  /** Longest line; a longer record is shortened with a "cut" marker. */
  readonly maxRecordBytes: number;
  /** Volume per owner (account): sustained bytes per second and burst; over it, records are written shortest. */
  readonly bytesPerSecond: number;
  readonly burstBytes: number;
}

export const DEFAULT_AUDIT_LIMITS: AuditLimits = { maxRecordBytes: 4096, bytesPerSecond: 16384, burstBytes: 262144 };

export class AuditLog implements AuditSink {
  private readonly fd: number;
  private readonly ownFd: boolean;
  private readonly window = new Map<string, { second: number; logged: number; suppressed: number; peer: AuditPeer | null; code: string }>();
  private readonly budget: AuditBudget;

  private constructor(
    fd: number,
    ownFd: boolean,
    private readonly refusalsPerSecond: number,
    private readonly now: () => number,
    private readonly o: AuditLimits,
  ) {
    this.fd = fd;
    this.ownFd = ownFd;
    this.budget = new AuditBudget(o.bytesPerSecond, o.burstBytes);
  }

  static open(path: string, options: { refusalsPerSecond?: number; now?: () => number } & Partial<AuditLimits> = {}): AuditLog {
    const now = options.now ?? Date.now;
    const perSecond = options.refusalsPerSecond ?? 20;
    const limits: AuditLimits = {
      maxRecordBytes: options.maxRecordBytes ?? DEFAULT_AUDIT_LIMITS.maxRecordBytes,
      bytesPerSecond: options.bytesPerSecond ?? DEFAULT_AUDIT_LIMITS.bytesPerSecond,
      burstBytes: options.burstBytes ?? DEFAULT_AUDIT_LIMITS.burstBytes,
    };
    if (path === '-') return new AuditLog(2, false, perSecond, now, limits);
    let fd: number;
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
      fd = openSync(
        path,
        constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | 0o2000000 /* O_CLOEXEC */,
        0o640,
      );
    } catch (e) {
      throw new FsidmapError('ERR_BROKER_AUDIT_LOG', `cannot open the audit log ${path}: ${(e as Error).message}`, {
        context: { path },
        hint: 'give a writable file with --audit-log (or - for stderr)',
        cause: e,
      });
    }
    if (!fstatSync(fd).isFile()) {
      closeSync(fd);
      throw new FsidmapError('ERR_BROKER_AUDIT_LOG', `the audit log ${path} is not a regular file`, { context: { path } });
    }
    return new AuditLog(fd, true, perSecond, now, limits);
  }

  record(r: AuditRecord): void {
    const t = this.now();
    if (r.peer && isFloodRefusal(r)) {
      // Per owner and code: 5,600 refused connections a second from one user's subordinate uids are one story, not 5,600.
      const key = `${r.peer.account ?? `uid:${r.peer.uid}`} ${r.code}`;
      const second = Math.floor(t / 1000);
      let w = this.window.get(key);
      if (!w || w.second !== second) {
        if (w && w.suppressed > 0) this.suppressedLine(w.peer, w.code, w.suppressed, t);
        w = { second, logged: 0, suppressed: 0, peer: r.peer, code: r.code! };
        this.window.set(key, w);
      }
      if (w.logged >= this.refusalsPerSecond) {
        w.suppressed++;
        return;
      }
      w.logged++;
    }
    const text = auditLine({ time: new Date(t).toISOString(), ...r }, this.o.maxRecordBytes);
    const key = r.peer ? (r.peer.account ?? `uid:${r.peer.uid}`) : null;
    // Over its owner's volume a record is written in its shortest form: decisions are never dropped.
    if (key !== null && !this.budget.take(key, Buffer.byteLength(text), t))
      this.write(auditLine({ time: new Date(t).toISOString(), ...r }, 1024));
    else this.write(text);
  }

  /** Writes the pending "suppressed" counts (called periodically and at close). */
  flush(): void {
    const t = this.now();
    const second = Math.floor(t / 1000);
    for (const [key, w] of this.window) {
      if (w.second === second) continue;
      if (w.suppressed > 0) this.suppressedLine(w.peer, w.code, w.suppressed, t);
      this.window.delete(key);
    }
  }

  close(): void {
    for (const w of this.window.values()) if (w.suppressed > 0) this.suppressedLine(w.peer, w.code, w.suppressed, this.now());
    this.window.clear();
    if (this.ownFd) closeSync(this.fd);
  }

  private suppressedLine(peer: AuditPeer | null, code: string, count: number, t: number): void {
    this.line({
      time: new Date(t).toISOString(),
      peer,
      conn: null,
      op: null,
      id: null,
      request: null,
      decision: 'refused',
      code: 'ERR_BROKER_AUDIT_SUPPRESSED',
      reason:
        code === 'ERR_BROKER_RATE_LIMITED'
          ? `${count} more requests of this peer over its rate limit were refused in one second and not logged one by one`
          : `${count} more connections of this peer were refused at accept (${code}) in one second and not logged one by one`,
      suppressed: count,
      suppressedCode: code,
    });
  }

  private line(obj: Record<string, unknown>): void {
    this.write(auditLine(obj, this.o.maxRecordBytes));
  }

  private write(text: string): void {
    try {
      writeSync(this.fd, text);
    } catch (e) {
      // The audit log is part of the contract: a broker that cannot write it must not go on deciding.
      process.stderr.write(`fsidmap broker: fatal: cannot write the audit log: ${(e as Error).message}\n`);
      process.exit(1);
    }
  }
}

/**
 * Refusals a flood repeats without limit and that decide no request: over
 * the rate limit, and connections refused at accept (no request read). The
 * first 20 per owner and code in a second are written, the rest counted.
 */
function isFloodRefusal(r: AuditRecord): boolean {
  if (r.code === 'ERR_BROKER_RATE_LIMITED') return true;
  return r.op === null && r.request === null && (r.code === 'ERR_BROKER_LIMIT' || r.code === 'ERR_BROKER_BUSY');
}
