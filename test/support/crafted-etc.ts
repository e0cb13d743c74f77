import { type ChildProcess, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { mustRun } from './subid-harness.js';

/**
 * A private mount namespace whose /etc is a directory of crafted files, so
 * the real newuidmap can be run on hostile /etc/subuid, /etc/passwd and
 * /etc/login.defs contents without touching the machine's own files. The
 * binary runs inside through nsenter; the user namespaces it writes to are
 * ordinary ones outside.
 */

export type FileSpec = string | null | { readonly symlinkTo: string };

export interface EtcFiles {
  readonly passwd: string;
  readonly group: string;
  readonly subuid: FileSpec;
  readonly subgid: FileSpec;
  readonly loginDefs?: string;
}

export class CraftedEtc {
  private constructor(
    readonly dir: string,
    readonly etc: string,
    private readonly ns: ChildProcess,
    readonly nsPid: number,
  ) {}

  static async start(): Promise<CraftedEtc> {
    const dir = mkdtempSync(join(tmpdir(), 'fsidmap-subid-etc-'));
    chmodSync(dir, 0o755);
    const etc = join(dir, 'etc');
    mkdirSync(etc, { mode: 0o755 });
    // What the dynamic loader and glibc need to run a setuid binary with a bare /etc.
    if (existsSync('/etc/ld.so.cache')) copyFileSync('/etc/ld.so.cache', join(etc, 'ld.so.cache'));
    writeFileSync(join(etc, 'nsswitch.conf'), 'passwd: files\ngroup: files\nshadow: files\n', { mode: 0o644 });
    const ns = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '3600'], { stdio: 'ignore' });
    const pid = ns.pid;
    if (pid === undefined) throw new Error('cannot start the mount namespace holder');
    const self = readlinkSync('/proc/self/ns/mnt');
    for (let i = 0; ; i++) {
      let mnt: string | undefined;
      try {
        mnt = readlinkSync(`/proc/${pid}/ns/mnt`);
      } catch {
        /* not yet */
      }
      if (mnt !== undefined && mnt !== self) break;
      if (i > 1000 || ns.exitCode !== null) {
        ns.kill('SIGKILL');
        throw new Error('the mount namespace holder did not start');
      }
      await delay(2);
    }
    mustRun('nsenter', ['-t', String(pid), '-m', '--', 'mount', '--bind', etc, '/etc']);
    return new CraftedEtc(dir, etc, ns, pid);
  }

  path(name: string): string {
    return join(this.etc, name);
  }

  write(files: EtcFiles): void {
    this.put('passwd', files.passwd);
    this.put('group', files.group);
    this.put('login.defs', files.loginDefs ?? '');
    this.put('subuid', files.subuid);
    this.put('subgid', files.subgid);
  }

  private put(name: string, spec: FileSpec): void {
    const p = this.path(name);
    for (const old of [p, `${p}.real`]) if (existsSync(old) || isLink(old)) unlinkSync(old);
    if (spec === null) return;
    if (typeof spec === 'string') {
      writeFileSync(p, Buffer.from(spec, 'latin1'), { mode: 0o644 });
      chmodSync(p, 0o644);
    } else {
      writeFileSync(`${p}.real`, Buffer.from(spec.symlinkTo, 'latin1'), { mode: 0o644 });
      symlinkSync(`${name}.real`, p);
    }
  }

  async stop(): Promise<void> {
    if (this.ns.exitCode === null && this.ns.signalCode === null) {
      const exited = new Promise((resolve) => this.ns.once('exit', resolve));
      this.ns.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function isLink(p: string): boolean {
  try {
    readlinkSync(p);
    return true;
  } catch {
    return false;
  }
}
