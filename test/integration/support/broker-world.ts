import { type ChildProcess, execFileSync, spawn, spawnSync, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrokerClient } from '../../../src/broker/client.js';
import { openRegistry } from '../../../src/registry/index.js';
import { pidfdOpen as openPidfd } from '../../../src/kernel/index.js';
import { closeDescriptor, POLLIN, pollReady, receive, unixSocketPair } from '../../../src/kernel/socket/unix-socket.js';

/**
 * A broker of its own for one test file: a temp directory under /tmp
 * (fsidt8-*), unprivileged test users (fsidt8*, system accounts so useradd
 * hands them no subordinate ids of its own; theirs are added and removed
 * here, line by line, with usermod), a broker process started through the
 * CLI on a socket in that directory, and helpers to act as those users.
 * destroy() removes all of it and only it.
 */

export const rootSkip: string | undefined =
  process.getuid?.() !== 0 ? 'needs root: the broker and its tests create users, namespaces and idmapped mounts' : undefined;

export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
export const cliPath = join(repoRoot, 'dist/src/cli/main.js');
const connectScript = join(repoRoot, 'dist/test/integration/support/broker-connect.js');
export const mountProbe = join(repoRoot, 'dist/test/native/broker-mount-probe');

export interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  /** The user's subordinate range (uids and gids alike), half-open. */
  readonly sub: { readonly start: number; readonly count: number };
}

export interface AuditLine {
  readonly time: string;
  readonly peer: { uid: number; gid: number; pid: number; user: string | null } | null;
  readonly op: string | null;
  readonly decision: 'allowed' | 'refused' | 'failed';
  readonly code: string | null;
  readonly reason: string;
  readonly request: Record<string, unknown> | null;
}

export interface Holder {
  readonly pid: number;
  readonly nsFd: number;
  readonly pidfd: number;
  /** Kills the holder and waits until it is reaped; the descriptors stay open. */
  exit(): Promise<void>;
  /** Kills the holder and closes the descriptors. */
  kill(): Promise<void>;
}

let slotCounter = 0;

export class BrokerWorld {
  readonly users: TestUser[] = [];
  broker: ChildProcess | null = null;
  brokerStderr = '';
  private readonly children = new Set<ChildProcess>();

  private constructor(
    readonly base: string,
    readonly tag: string,
  ) {}

  get socket(): string {
    return join(this.base, 'run/broker.sock');
  }
  get auditPath(): string {
    return join(this.base, 'audit.log');
  }
  get limitsPath(): string {
    return join(this.base, 'limits.json');
  }

  /** A world with `users` test users, each with a home (0700) and a subordinate range of 131072 ids. */
  static async create(options: {
    users: number;
    limits?: unknown | ((users: TestUser[]) => unknown);
    brokerArgs?: string[];
  }): Promise<BrokerWorld> {
    const tag = randomBytes(3).toString('hex');
    const base = realpathSync(mkdtempSync(`/tmp/fsidt8-${tag}-`));
    chmodSync(base, 0o755);
    const w = new BrokerWorld(base, tag);
    try {
      mkdirSync(join(base, 'run'), { mode: 0o755 });
      chmodSync(join(base, 'run'), 0o755);
      for (let i = 0; i < options.users; i++) w.users.push(w.addUser(String.fromCharCode(97 + i)));
      w.assertUsersCanRunFsidmap();
      const limits = typeof options.limits === 'function' ? (options.limits as (u: TestUser[]) => unknown)(w.users) : options.limits;
      if (limits !== undefined) writeFileSync(w.limitsPath, JSON.stringify(limits));
      await w.startBroker(options.brokerArgs ?? []);
      return w;
    } catch (e) {
      await w.destroy();
      throw e;
    }
  }

  private addUser(letter: string): TestUser {
    const name = `fsidt8${letter}${this.tag}`;
    const home = join(this.base, `home-${letter}`);
    execFileSync('useradd', ['-r', '-M', '-d', home, '-s', '/bin/sh', name], { stdio: 'pipe' });
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
    // A range far above what useradd hands out, different for every user of every run.
    const slot = (parseInt(this.tag, 16) * 8 + (slotCounter++ % 8)) % 20000;
    const start = 1_500_000_000 + slot * 131072;
    const sub = { start, count: 131072 };
    const range = `${start}-${start + sub.count - 1}`;
    execFileSync('usermod', ['--add-subuids', range, '--add-subgids', range, name], { stdio: 'pipe' });
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, uid, gid);
    chmodSync(home, 0o700);
    return { name, uid, gid, home, sub };
  }

  /** The test users run node and this checkout's dist/: both must be reachable by an unprivileged user. */
  private assertUsersCanRunFsidmap(): void {
    const u = this.users[0];
    if (!u) return;
    const r = spawnSync(
      'setpriv',
      [
        `--reuid=${u.uid}`,
        `--regid=${u.gid}`,
        '--init-groups',
        '--',
        process.execPath,
        '-e',
        `require('fs').accessSync(${JSON.stringify(cliPath)}, 4)`,
      ],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) {
      throw new Error(
        `an unprivileged user cannot run ${process.execPath} on ${cliPath}: the checkout (and node) must be readable and searchable by every user for the broker tests (${r.stderr.trim().split('\n').pop()})`,
      );
    }
  }

  async startBroker(extra: string[] = []): Promise<void> {
    const args = [
      cliPath,
      'broker',
      '--socket',
      this.socket,
      '--audit-log',
      this.auditPath,
      '--db',
      join(this.base, 'registry.db'),
      ...(existsSync(this.limitsPath) ? ['--limits', this.limitsPath] : []),
      ...extra,
    ];
    this.brokerStderr = '';
    const b = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env } });
    this.broker = b;
    b.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.brokerStderr += d;
    });
    const until = Date.now() + 10000;
    while (!this.brokerStderr.includes('listening on')) {
      if (b.exitCode !== null || Date.now() > until) throw new Error(`the broker did not start: ${this.brokerStderr}`);
      await sleep(20);
    }
  }

  async stopBroker(): Promise<void> {
    const b = this.broker;
    if (!b) return;
    this.broker = null;
    if (b.exitCode === null && b.signalCode === null) {
      const exited = new Promise((r) => b.once('exit', r));
      b.kill('SIGTERM');
      const t = setTimeout(() => b.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
  }

  /** True while the broker process runs. */
  brokerAlive(): boolean {
    return this.broker !== null && this.broker.exitCode === null && this.broker.signalCode === null;
  }

  /** Runs argv as user u (setpriv: real and effective ids, the user's groups). */
  spawnAs(u: TestUser, argv: string[], options: { stdio?: StdioOptions; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    const child = spawn('setpriv', [`--reuid=${u.uid}`, `--regid=${u.gid}`, '--init-groups', '--', ...argv], {
      stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: u.home, USER: u.name, LOGNAME: u.name, FSIDMAP_BROKER_SOCKET: this.socket, ...options.env },
      cwd: u.home,
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs argv as u to completion. */
  async runAs(u: TestUser, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const child = this.spawnAs(u, argv, { env });
    let stdout = '',
      stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const code = await new Promise<number>((r) => child.once('close', (c, s) => r(c ?? 128 + (s ? 9 : 0))));
    return { code, stdout, stderr };
  }

  /** A socket connected to the broker by user u (so the broker sees u), for the test to drive. */
  async connectAs(u: TestUser, timeoutMs = 15000): Promise<BrokerClient> {
    return BrokerClient.fromFd(await this.connectFdAs(u), `${u.name}'s connection`, timeoutMs);
  }

  /** The raw descriptor of a connection made by u (the test sends what it likes on it); `via` runs the connecting process under a wrapper (nsenter …). */
  async connectFdAs(u: TestUser, via: string[] = []): Promise<number> {
    const [ours, theirs] = unixSocketPair();
    try {
      const child = this.spawnAs(u, [...via, process.execPath, connectScript, this.socket], {
        stdio: ['ignore', 'ignore', 'pipe', theirs],
      });
      closeDescriptor(theirs);
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        err += d;
      });
      const until = Date.now() + 10000;
      for (;;) {
        const [rev] = await pollReady([{ fd: ours, events: POLLIN }], 200);
        if (rev !== 0) {
          const r = receive(ours, 16);
          if (r && r.fds.length === 1) return r.fds[0];
          if (r?.eof) throw new Error(`connecting as ${u.name} failed: ${err}`);
        }
        if (Date.now() > until) throw new Error(`connecting as ${u.name} timed out: ${err}`);
      }
    } finally {
      closeDescriptor(ours);
    }
  }

  /** A process of u in a new user namespace of u's (maps not written), with the namespace and a pidfd opened by the test; `also`: more unshare flags (--net: a network namespace owned by it). */
  async holderOf(u: TestUser, also: string[] = []): Promise<Holder> {
    const child = this.spawnAs(u, ['unshare', '--user', ...also, '--', 'sleep', '600'], { stdio: 'ignore' });
    const own = statSync('/proc/self/ns/user').ino;
    const until = Date.now() + 5000;
    for (;;) {
      try {
        if (statSync(`/proc/${child.pid}/ns/user`).ino !== own) break;
      } catch {
        /* not yet */
      }
      if (child.exitCode !== null || Date.now() > until) throw new Error(`no user namespace for ${u.name}`);
      await sleep(3);
    }
    const nsFd = openSync(`/proc/${child.pid}/ns/user`, 'r');
    const pidfd = openPidfd(child.pid!);
    const exited = new Promise<void>((r) => {
      if (child.exitCode !== null) r();
      else child.once('exit', () => r());
    });
    let closed = false;
    return {
      pid: child.pid!,
      nsFd,
      pidfd,
      async exit() {
        child.kill('SIGKILL');
        await exited;
      },
      async kill() {
        child.kill('SIGKILL');
        await exited;
        if (!closed) {
          closed = true;
          closeDescriptor(nsFd);
          closeDescriptor(pidfd);
        }
      },
    };
  }

  audit(): AuditLine[] {
    if (!existsSync(this.auditPath)) return [];
    return readFileSync(this.auditPath, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as AuditLine);
  }

  /** Audit lines of u after `from` lines. */
  auditOf(u: TestUser, from = 0): AuditLine[] {
    return this.audit()
      .slice(from)
      .filter((l) => l.peer?.uid === u.uid);
  }

  /** Mounts under this world's directory, in the test's and the broker's mount tables. */
  leftoverMounts(): string[] {
    const out: string[] = [];
    for (const pid of ['self', ...(this.broker?.pid ? [String(this.broker.pid)] : [])]) {
      let text = '';
      try {
        text = readFileSync(`/proc/${pid}/mountinfo`, 'latin1');
      } catch {
        continue;
      }
      for (const line of text.split('\n')) if (line.split(' ')[4]?.startsWith(this.base)) out.push(`${pid}: ${line}`);
    }
    return out;
  }

  /** The broker's child processes (holders, lock helpers) and processes still running as a test user. */
  leftoverProcesses(): string[] {
    const uids = new Set(this.users.map((u) => u.uid));
    const out: string[] = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        const uid = statSync(`/proc/${name}`).uid;
        const cmd = readFileSync(`/proc/${name}/cmdline`, 'latin1').replace(/\0/g, ' ').trim();
        if ((this.broker?.pid && ppid === this.broker.pid) || uids.has(uid)) out.push(`${name} (uid ${uid}, ppid ${ppid}): ${cmd}`);
      } catch {
        /* exited */
      }
    }
    return out;
  }

  /** Allocations in this world's registry (every one of them was made by a test user through the broker). */
  async registryEntries(): Promise<string[]> {
    const path = join(this.base, 'registry.db');
    if (!existsSync(path)) return [];
    const r = await openRegistry({ db: path });
    try {
      return (await r.list()).map((a) => `${a.name} (${a.kind}, owner ${a.owner})`);
    } finally {
      await r.close();
    }
  }

  /** Waits (briefly) until no leftovers remain, and returns what is left. */
  async leftovers(): Promise<{ mounts: string[]; processes: string[]; registry: string[] }> {
    const until = Date.now() + 3000;
    for (;;) {
      const mounts = this.leftoverMounts(),
        processes = this.leftoverProcesses(),
        registry = await this.registryEntries();
      if ((mounts.length === 0 && processes.length === 0 && registry.length === 0) || Date.now() > until)
        return { mounts, processes, registry };
      await sleep(50);
    }
  }

  async destroy(): Promise<void> {
    for (const c of this.children) if (c.exitCode === null) c.kill('SIGKILL');
    await this.stopBroker();
    // Anything still running as a test user was started by this test (they exist only here): end it by pid.
    const uids = new Set(this.users.map((u) => u.uid));
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        if (uids.has(statSync(`/proc/${name}`).uid)) process.kill(Number(name), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await sleep(50);
    for (const u of this.users) {
      const range = `${u.sub.start}-${u.sub.start + u.sub.count - 1}`;
      try {
        execFileSync('usermod', ['--del-subuids', range, '--del-subgids', range, u.name], { stdio: 'pipe' });
      } catch {
        /* gone */
      }
      try {
        execFileSync('userdel', [u.name], { stdio: 'pipe' });
      } catch {
        /* gone */
      }
    }
    rmSync(this.base, { recursive: true, force: true });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Opens a descriptor the test closes itself (a regular file, for hostile-fd cases). */
export function openFile(path: string): number {
  return openSync(path, 'r');
}

export { closeSync };
