import { FsidmapError } from '../errors.js';
import { SyscallError } from '../kernel/libc.js';
import { closeDescriptor, POLLIN, pollReady, receive, send, unixConnect } from '../kernel/socket/unix-socket.js';
import { DEFAULT_SOCKET } from './listen.js';
import type { MapPairText } from './protocol.js';
import { PROTOCOL_VERSION } from './protocol.js';

/**
 * The client side of the broker protocol (docs/broker.md), used by
 * `fsidmap run` and `fsidmap broker status|alloc|release|list` when not
 * root. One connection, one request at a time; descriptors go out and come
 * back with SCM_RIGHTS. FSIDMAP_BROKER_SOCKET names another socket.
 */

export function brokerSocket(env: NodeJS.ProcessEnv = process.env): string {
  return env.FSIDMAP_BROKER_SOCKET && env.FSIDMAP_BROKER_SOCKET !== '' ? env.FSIDMAP_BROKER_SOCKET : DEFAULT_SOCKET;
}

const START_HINT =
  "an administrator starts the broker with `systemctl enable --now fsidmap-broker.socket` (units in the repository's systemd/ directory) " +
  'or runs `sudo fsidmap broker` in the foreground; set FSIDMAP_BROKER_SOCKET if it listens elsewhere';

export interface Answer {
  readonly result: Record<string, unknown>;
  /** Descriptors that came with the answer; the caller owns them. */
  readonly fds: number[];
}

export interface HelloResult {
  readonly server: string;
  readonly version: string;
  readonly protocol: number;
  readonly peer: { uid: number; gid: number; pid: number; user: string | null };
  readonly owned: Record<'uid' | 'gid', { own: number; subordinate: [number, number][]; allocated: [number, number][] }>;
  readonly limits: Record<string, number>;
  readonly usage: { namespaces: number; allocations: number; ids: number };
  readonly registry: boolean;
}

export interface AllocationAnswer {
  readonly name: string;
  readonly kind: 'container' | 'image' | 'volume';
  readonly uid: { start: number; count: number };
  readonly gid: { start: number; count: number };
  readonly createdAt: string;
  /** "draining": released while a user namespace still maps it. */
  readonly state: 'allocated' | 'draining';
}

/** A release's answer: `held` when the range drains because a user namespace on the host still maps it. */
export interface ReleaseAnswer {
  readonly released: AllocationAnswer;
  readonly held: boolean;
  readonly heldBy?: string;
}

export interface MountRequest {
  readonly path: string;
  readonly mountMap?: MapPairText;
  readonly idmap?: MapPairText;
  readonly fsidmap?: MapPairText;
  readonly readonly?: boolean;
  readonly nosuid?: boolean;
  readonly noexec?: boolean;
}

export class BrokerClient {
  private nextId = 1;
  private buffer = Buffer.alloc(0);
  private pendingFds: number[] = [];
  private closed = false;

  private constructor(
    private readonly fd: number,
    readonly socket: string,
    private readonly timeoutMs: number,
  ) {}

  /** Connects, or throws ERR_BROKER_UNAVAILABLE saying how to start a broker. */
  static connect(options: { socket?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): BrokerClient {
    const path = options.socket ?? brokerSocket(options.env);
    try {
      return new BrokerClient(unixConnect(path), path, options.timeoutMs ?? 30000);
    } catch (e) {
      if (e instanceof SyscallError && ['ENOENT', 'ECONNREFUSED', 'ENOTDIR'].includes(e.errnoName)) {
        throw new FsidmapError('ERR_BROKER_UNAVAILABLE', `no fsidmap broker is listening on ${path}`, {
          context: { socket: path, errno: e.errnoName },
          hint: START_HINT,
          cause: e,
        });
      }
      if (e instanceof SyscallError && e.errnoName === 'EACCES') {
        throw new FsidmapError('ERR_BROKER_UNAVAILABLE', `the broker socket ${path} cannot be reached by this user (EACCES)`, {
          context: { socket: path },
          hint: 'the socket must be mode 0666 in a directory everyone may search (the broker sets this up)',
          cause: e,
        });
      }
      throw e;
    }
  }

  /** Wraps a socket that is already connected to the broker (taken over: close() closes it). */
  static fromFd(fd: number, label = `fd ${fd}`, timeoutMs = 30000): BrokerClient {
    return new BrokerClient(fd, label, timeoutMs);
  }

  /** Sends raw bytes (with descriptors), for protocol tests. */
  async sendRaw(data: Buffer, fds: readonly number[] = []): Promise<void> {
    await this.sendAll(data, fds);
  }

  /** The next answer line as text (null at end of stream), for protocol tests. */
  async readAnswer(): Promise<{ text: string; fds: number[] } | null> {
    try {
      return await this.readLine();
    } catch (e) {
      if (e instanceof FsidmapError && e.code === 'ERR_BROKER_CLOSED') return null;
      throw e;
    }
  }

  /** Sends one request (with descriptors) and waits for its answer; a refusal throws FsidmapError with the broker's code. */
  async request(op: string, fields: Record<string, unknown> = {}, fds: readonly number[] = []): Promise<Answer> {
    if (this.closed) throw new FsidmapError('ERR_BROKER_CLOSED', 'the broker connection is closed');
    const id = this.nextId++;
    const line = Buffer.from(JSON.stringify({ v: PROTOCOL_VERSION, id, op, ...fields }) + '\n', 'utf8');
    let sendFailed: SyscallError | null = null;
    try {
      await this.sendAll(line, fds);
    } catch (e) {
      // A broker that refuses a connection at accept answers and closes, maybe before this request is
      // written: the write fails, but its answer (the reason) is still there to read.
      if (!(e instanceof SyscallError && (e.errnoName === 'EPIPE' || e.errnoName === 'ECONNRESET'))) throw e;
      sendFailed = e;
    }
    let read: { text: string; fds: number[] };
    try {
      read = await this.readLine();
    } catch (e) {
      if (sendFailed === null) throw e;
      throw new FsidmapError(
        'ERR_BROKER_CLOSED',
        `the broker closed the connection before the request was sent (${sendFailed.errnoName})`,
        {
          context: { op, socket: this.socket },
          cause: sendFailed,
        },
      );
    }
    const { text, fds: got } = read;
    let answer: {
      v?: unknown;
      id?: unknown;
      ok?: unknown;
      result?: unknown;
      error?: { code?: string; message?: string; hint?: string | null };
    };
    try {
      answer = JSON.parse(text);
    } catch {
      for (const f of got) closeDescriptor(f);
      throw new FsidmapError('ERR_BROKER_PROTOCOL', `the broker answered something that is not JSON: ${text.slice(0, 200)}`);
    }
    if (answer.ok === true && answer.id === id) return { result: (answer.result ?? {}) as Record<string, unknown>, fds: got };
    for (const f of got) closeDescriptor(f);
    const err = answer.error ?? {};
    throw new FsidmapError(err.code ?? 'ERR_BROKER_PROTOCOL', `broker: ${err.message ?? 'unexpected answer'}`, {
      ...(err.hint ? { hint: err.hint } : {}),
      context: { op, socket: this.socket },
    });
  }

  async hello(): Promise<HelloResult> {
    return (await this.request('hello')).result as unknown as HelloResult;
  }

  /** Writes the maps of the user namespace nsFd, through a process in it (pidfd). */
  async setMaps(
    nsFd: number,
    pidfd: number,
    maps: { uid: string; gid: string; setgroups?: 'allow' | 'deny' },
  ): Promise<{ uidMap: string; gidMap: string; setgroups: string }> {
    const r = await this.request(
      'setmaps',
      { uidMap: maps.uid, gidMap: maps.gid, ...(maps.setgroups ? { setgroups: maps.setgroups } : {}) },
      [nsFd, pidfd],
    );
    return r.result as { uidMap: string; gidMap: string; setgroups: string };
  }

  /** A detached, locked idmapped mount of req.path; the caller owns (and closes) the descriptor. */
  async mount(req: MountRequest): Promise<{ fd: number; result: Record<string, unknown> }> {
    const r = await this.request('mount', { ...req });
    if (r.fds.length !== 1) {
      for (const f of r.fds) closeDescriptor(f);
      throw new FsidmapError('ERR_BROKER_PROTOCOL', `the broker's mount answer carried ${r.fds.length} descriptors, not 1`);
    }
    return { fd: r.fds[0], result: r.result };
  }

  async alloc(
    name: string,
    options: { kind?: 'container' | 'image' | 'volume'; size?: number } = {},
  ): Promise<{ allocation: AllocationAnswer; created: boolean }> {
    return (await this.request('alloc', { name, ...options })).result as unknown as { allocation: AllocationAnswer; created: boolean };
  }

  async release(name: string): Promise<ReleaseAnswer> {
    return (await this.request('release', { name })).result as unknown as ReleaseAnswer;
  }

  async list(): Promise<AllocationAnswer[]> {
    return ((await this.request('list')).result as { allocations: AllocationAnswer[] }).allocations;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const f of this.pendingFds) closeDescriptor(f);
    closeDescriptor(this.fd);
  }

  private async sendAll(data: Buffer, fds: readonly number[]): Promise<void> {
    let rest = data;
    let attach = [...fds];
    const deadline = Date.now() + this.timeoutMs;
    while (rest.length > 0) {
      const n = send(this.fd, rest, attach);
      if (n > 0) {
        rest = rest.subarray(n);
        attach = [];
        continue;
      }
      if (Date.now() > deadline) throw this.timeout('sending');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private async readLine(): Promise<{ text: string; fds: number[] }> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const nl = this.buffer.indexOf(0x0a);
      if (nl >= 0) {
        const text = this.buffer.subarray(0, nl).toString('utf8');
        this.buffer = this.buffer.subarray(nl + 1);
        const fds = this.pendingFds;
        this.pendingFds = [];
        return { text, fds };
      }
      const left = deadline - Date.now();
      if (left <= 0) throw this.timeout('waiting for the answer');
      const [rev] = await pollReady([{ fd: this.fd, events: POLLIN }], Math.min(left, 1000));
      if (rev === 0) continue;
      const r = receive(this.fd);
      if (r === null) continue;
      this.pendingFds.push(...r.fds);
      if (r.eof) {
        this.close();
        throw new FsidmapError('ERR_BROKER_CLOSED', 'the broker closed the connection before answering', {
          hint: "see the broker's audit log for why",
        });
      }
      this.buffer = Buffer.concat([this.buffer, r.data]);
    }
  }

  private timeout(what: string): FsidmapError {
    this.close();
    return new FsidmapError('ERR_BROKER_TIMEOUT', `the broker did not answer in ${this.timeoutMs} ms (${what})`, {
      context: { socket: this.socket },
    });
  }
}
