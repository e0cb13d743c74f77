import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Runs the real newuidmap/newgidmap as unprivileged users against user
 * namespaces those users own, for the differential tests of the delegation
 * policy. Needs root (to switch users with setpriv, and for nsenter).
 */

export const NEWUIDMAP = '/usr/bin/newuidmap';
export const NEWGIDMAP = '/usr/bin/newgidmap';

export function harnessUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root: creates test users and runs newuidmap as them';
  return undefined;
}

/** Missing tools are a setup failure, not a reason to skip (CI installs uidmap via scripts/debian-packages.txt). */
export function assertTools(): void {
  for (const t of [
    NEWUIDMAP,
    NEWGIDMAP,
    '/usr/bin/setpriv',
    '/usr/bin/unshare',
    '/usr/bin/nsenter',
    '/usr/sbin/useradd',
    '/usr/sbin/usermod',
    '/usr/sbin/userdel',
  ]) {
    if (!existsSync(t))
      throw new Error(`${t} is missing: install the Debian packages listed in scripts/debian-packages.txt (npm test does this as root)`);
  }
}

export function run(cmd: string, args: readonly string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'latin1' });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function mustRun(cmd: string, args: readonly string[]): string {
  const r = run(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const selfUserNs = readlinkSync('/proc/self/ns/user');

/** A process that has unshared a user namespace as uid:gid and waits; its maps are unwritten. */
export class Holder {
  private constructor(
    readonly pid: number,
    private readonly child: ChildProcess,
  ) {}

  static async start(uid: number, gid: number): Promise<Holder> {
    const argv = ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', 'unshare', '--user', 'sleep', '600'];
    const child = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
    const pid = child.pid;
    if (pid === undefined) throw new Error('could not start a holder process');
    for (let i = 0; i < 2000; i++) {
      let ns: string | undefined;
      try {
        ns = readlinkSync(`/proc/${pid}/ns/user`);
      } catch {
        /* not yet, or gone */
      }
      if (ns !== undefined && ns !== selfUserNs && /sleep/.test(safeRead(`/proc/${pid}/comm`))) return new Holder(pid, child);
      if (child.exitCode !== null) break;
      await delay(i < 50 ? 1 : 5);
    }
    child.kill('SIGKILL');
    throw new Error(`holder ${pid} did not unshare a user namespace`);
  }

  map(kind: 'uid' | 'gid'): string {
    return safeRead(`/proc/${this.pid}/${kind}_map`);
  }
  setgroups(): string {
    return safeRead(`/proc/${this.pid}/setgroups`).trim();
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return '';
  }
}

export interface ToolRun {
  status: number;
  stderr: string;
}

/** Runs newuidmap/newgidmap PID ARGS as uid with real gid, optionally inside another mount namespace. */
export function runTool(
  tool: 'newuidmap' | 'newgidmap',
  pid: number,
  args: readonly string[],
  uid: number,
  gid: number,
  mountNsPid?: number,
): ToolRun {
  const inner = ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', `/usr/bin/${tool}`, String(pid), ...args];
  const r = mountNsPid === undefined ? run(inner[0], inner.slice(1)) : run('nsenter', ['-t', String(mountNsPid), '-m', '--', ...inner]);
  return { status: r.status, stderr: r.stderr };
}

/** Which step of newuidmap's main() stopped it, read from its exit status and stderr. */
export function observedStage(r: ToolRun): string | null {
  if (r.status === 0) return null;
  const e = r.stderr;
  if (/usage: new[ug]idmap/.test(e) || /subuid overflow detected/.test(e)) return 'arguments';
  if (/range \[.*not allowed/.test(e)) return 'ranges';
  if (/write to [ug]id_map failed/.test(e)) return 'kernel';
  if (/is owned by a different user/.test(e)) return 'target';
  if (/Cannot determine your user name/.test(e)) return 'caller';
  if (/failed to setgroups/.test(e)) return 'setgroups';
  if (e.trim() === '') return 'subid-file';
  return `unknown: ${e.trim()}`;
}

/** Kernel map text compared without its column padding. */
export function squash(mapText: string): string {
  return mapText
    .split('\n')
    .map((l) => l.trim().split(/\s+/).join(' '))
    .filter((l) => l !== '')
    .join('\n');
}
