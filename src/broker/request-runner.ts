import { FsidmapError } from '../errors.js';
import type { Attached, Connection } from './connection.js';
import { type Limits, limitsOfAccount, type RateLimiter } from './limits.js';
import type { FramedLine } from './line-framer.js';
import type { Peer, RequestHandler } from './peer.js';
import { describeAccount } from './account.js';
import { auditView, errorAnswer, FDS_PER_OP, okAnswer, parseRequest, type Request, type RequestId } from './protocol.js';

/**
 * Serving one request line: the rate limit (every line costs a token), the
 * protocol parse, the descriptor check, the operation, the answer and its
 * audit line. Whatever happens, the line's usable descriptors are closed
 * unless the operation adopted them, and the line gets exactly one answer
 * and one audit line.
 */
export interface LineRunner {
  readonly limits: Limits;
  readonly limiter: RateLimiter;
  readonly handler: RequestHandler;
  now(): number;
  respond(c: Connection, text: string, fds: readonly number[]): void;
  /** The stream cannot be trusted any more: answer once and close. */
  fail(c: Connection, code: string, message: string, hint: string): void;
  audit(
    peer: Peer,
    request: Request | null,
    decision: 'allowed' | 'refused' | 'failed',
    code: string | null,
    reason: string,
    extra?: { result?: unknown; view?: Record<string, unknown> | null; context?: Record<string, unknown>; id?: RequestId },
  ): void;
  release(fds: readonly (Attached | number)[]): void;
}

export async function serveLine(r: LineRunner, c: Connection, line: FramedLine<Attached>): Promise<void> {
  const rejectedHere = line.fds.flatMap((f) => (f.kind === 'rejected' ? [f.what] : []));
  const valid = line.fds.flatMap((f) => (f.kind === 'rejected' ? [] : [f]));
  const adopted = new Set<number>();
  let request: Request | null = null;
  const refuse = (
    id: RequestId,
    code: string,
    message: string,
    hint: string | null,
    extra: { view?: Record<string, unknown> | null; context?: Record<string, unknown>; decision?: 'refused' | 'failed' } = {},
  ) => {
    r.audit(c.peer, request, extra.decision ?? 'refused', code, message, {
      view: extra.view ?? (request ? auditView(request) : null),
      ...(extra.context ? { context: extra.context } : {}),
      id,
    });
    r.respond(c, errorAnswer(id, { code, message, hint }), []);
  };
  try {
    const ul = limitsOfAccount(r.limits, c.peer.account);
    if (!r.limiter.take(c.peer.account.key, ul, r.now())) {
      c.rateRefusals++;
      refuse(
        null,
        'ERR_BROKER_RATE_LIMITED',
        `${describeAccount(c.peer)} sent more than ${ul.burst} requests at once (${ul.requestsPerSecond} per second sustained)`,
        'slow down and retry',
      );
      if (c.rateRefusals > ul.burst)
        r.fail(c, 'ERR_BROKER_RATE_LIMITED', 'too many requests over the limit on one connection', 'slow down and reconnect');
      return;
    }
    c.rateRefusals = 0;
    const parsed = parseRequest(line.text);
    if (!parsed.ok) {
      const shown = line.text.length > 512 ? `${line.text.slice(0, 512)}…(${line.text.length} chars)` : line.text;
      refuse(parsed.error.id, parsed.error.code, parsed.error.message, parsed.error.hint, { view: { line: shown } });
      return;
    }
    request = parsed.request;
    const want = FDS_PER_OP[request.op];
    if (rejectedHere.length > 0) {
      refuse(
        request.id,
        'ERR_BROKER_FDS',
        `${request.op}: a descriptor sent with the request is ${rejectedHere[0]}, not a user namespace or a pidfd`,
        'send /proc/PID/ns/user and a pidfd (pidfd_open) of a process in that namespace',
      );
      return;
    }
    if (valid.length !== want) {
      refuse(
        request.id,
        'ERR_BROKER_FDS',
        `${request.op} takes ${want} descriptor${want === 1 ? '' : 's'} with its line, got ${valid.length}`,
        want === 0
          ? 'send this request without descriptors'
          : 'send the user namespace (/proc/PID/ns/user) and a pidfd of a process in it, in that order, with SCM_RIGHTS on the request line',
      );
      return;
    }
    const result = await r.handler(request, {
      peer: c.peer,
      fds: valid,
      adopt: (fd) => {
        adopted.add(fd);
      },
    });
    if (c.closing) {
      r.release(result.fds ?? []);
      r.audit(c.peer, request, 'allowed', null, `${result.reason} (the peer had gone; its descriptors were closed)`);
      return;
    }
    r.audit(c.peer, request, 'allowed', null, result.reason, { result: result.result });
    r.respond(c, okAnswer(request.id, result.result), result.fds ?? []);
  } catch (e) {
    const id: RequestId = request?.id ?? null;
    if (e instanceof FsidmapError) {
      refuse(id, e.code, e.message, e.hint ?? null, { context: e.context });
    } else {
      refuse(id, 'ERR_BROKER_INTERNAL', `internal error: ${e instanceof Error ? e.message : String(e)}`, "see the broker's log", {
        decision: 'failed',
      });
      process.stderr.write(`fsidmap broker: internal error serving conn ${c.peer.conn}: ${e instanceof Error ? e.stack : String(e)}\n`);
    }
  } finally {
    r.release(valid.filter((f) => !adopted.has(f.fd)));
  }
}
