import { spawn } from 'node:child_process';
import {
  chmodSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { parseMapText } from '../../../src/userns-census/census.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Container } from '../../../src/container/index.js';
import { makeSampleImage } from '../../../src/container/sample-image.js';

/** Why a real-kernel test cannot run here, or undefined when it can (CI is root on Linux 6.18). */
export const rootSkip: string | undefined =
  process.getuid?.() !== 0 ? 'needs root (idmapped mounts and id-map writes need CAP_SYS_ADMIN in the initial user namespace)' : undefined;

export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
export const cliPath = join(repoRoot, 'dist/src/cli/main.js');

/** A temp dir of this test file (mode 0700, like mkdtemp's), removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), `fsidmap-run-${prefix}-`)));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface ToyImage {
  readonly root: string;
  /** Number of entries (all shifted by offset, owners 0, 7 and 1000 inside). */
  readonly entries: number;
}

/**
 * A small image tree stored on disk at offset+ (fsidmap's sample image: sh
 * and coreutils from the host), plus /etc/passwd with root and alice (1000),
 * /home/alice (alice's), /root (0700), /etc/secret (0600 root), /data,
 * /shared (a volume mount point) and /opt/seven owned by 7:7.
 */
export function makeToyImage(root: string, offset: number): ToyImage {
  for (const d of ['home/alice', 'shared', 'opt', 'etc']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc/secret'), 'only root\n', { mode: 0o600 });
  writeFileSync(join(root, 'opt/seven'), 'seven\n');
  const entries = makeSampleImage(root, { offset });
  // Rewriting keeps the files' shifted owners.
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nseven:x:7:\nalice:x:1000:\nstaff:x:50:alice\n');
  chmodSync(join(root, 'etc/secret'), 0o600);
  lchownSync(join(root, 'home/alice'), offset + 1000, offset + 1000);
  lchownSync(join(root, 'opt/seven'), offset + 7, offset + 7);
  return { root, entries };
}

export interface Collected {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Reads a piped container's output until it exits (after its cleanup). */
export async function collect(c: Container): Promise<Collected> {
  let stdout = '',
    stderr = '';
  c.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  c.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const code = await c.exited;
  return { code, stdout, stderr };
}

/** Runs the fsidmap CLI to completion. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<Collected & { signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.stdin.end(input ?? '');
    child.on('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr }));
  });
}

/** Pids of processes whose command line contains marker (a unique string of the test). */
export function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'latin1').includes(marker)) out.push(Number(name));
    } catch {
      /* exited */
    }
  }
  return out;
}

/**
 * Processes whose user namespace maps host uid `id`, zombies included: a
 * zombie keeps its namespace until it is reaped, and the orphans of a
 * SIGKILLed fsidmap are reaped by init, which on some machines takes seconds.
 */
export function processesMapping(id: number): number[] {
  const out: number[] = [];
  const own = readlinkSync('/proc/self/ns/user');
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/ns/user`) === own) continue;
      const extents = parseMapText(readFileSync(`/proc/${name}/uid_map`, 'latin1'));
      if (extents.some(([, lower, count]) => lower <= id && id < lower + count)) out.push(Number(name));
    } catch {
      /* exited */
    }
  }
  return out;
}

/** Mounts in the host's mount table at or under dir. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(dir + '/'));
}

/** Real and effective ids of a host process as the host sees them (kuid/kgid). */
export function hostIds(pid: number): { uid: number[]; gid: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const line = (k: string) => (status.match(new RegExp(`^${k}:\\s+(.*)$`, 'm'))?.[1] ?? '').split(/\s+/).map(Number);
  return { uid: line('Uid'), gid: line('Gid') };
}

/** Children of a host process (CONFIG_PROC_CHILDREN). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Polls until check() is truthy (or throws after timeoutMs). */
export async function until<T>(what: string, check: () => T | undefined | null | false, timeoutMs = 10000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A unique marker for a test's processes. */
export function marker(tag: string): string {
  return `fsidmap-test-${tag}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}
