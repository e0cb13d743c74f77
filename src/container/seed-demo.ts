import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsidmapError } from '../errors.js';
import { parseMap } from '../idmap/index.js';
import { mountsUnder, probeIdmapSupport, stagePath } from '../kernel/index.js';
import { makeSampleImage } from './sample-image.js';
import { type Container, startContainer } from './start.js';

/**
 * The seed's example for real, for `fsidmap demo`: a small image stored on
 * disk at 300000+ in a temp dir, two containers (id maps 0:100000:65536 and
 * 0:200000:65536, both with fsid map 0:300000:65536) running at once on it,
 * what they see, where their files land, and their kuids from the host;
 * then everything removed.
 */
export interface SeedDemoContainer {
  readonly name: string;
  readonly idmap: string;
  readonly fsidmap: string;
  /** `id`, `ls -ln /` and `ls -ln` of the file it created, as printed inside. */
  readonly id: string;
  readonly ls: string;
  readonly created: string;
  /** Host view of its processes: pid and Uid/Gid lines of /proc/PID/status (real, effective, saved, fs). */
  readonly processes: ReadonlyArray<{
    readonly pid: number;
    readonly role: 'init' | 'cmd';
    readonly uid: readonly number[];
    readonly gid: readonly number[];
  }>;
  readonly exitCode: number;
}

export interface SeedDemoResult {
  readonly image: string;
  readonly entries: number;
  /** `ls -ln` of the image's root on the host. */
  readonly hostLs: string;
  readonly containers: readonly SeedDemoContainer[];
  /** The files the containers created, as the host sees them on disk. */
  readonly landed: ReadonlyArray<{ readonly path: string; readonly uid: number; readonly gid: number }>;
  /** After cleanup: mounts left under the temp dir and processes left (both 0). */
  readonly left: { readonly mounts: number; readonly processes: number };
}

/** Why the real part cannot run here, or null when it can. */
export async function seedDemoUnavailable(): Promise<string | null> {
  if (process.geteuid?.() !== 0)
    return 'not root: idmapped mounts and id maps of 65536 ids need CAP_SYS_ADMIN and CAP_SETUID in the initial user namespace (run `sudo fsidmap demo`)';
  try {
    stagePath();
  } catch (e) {
    return (e as Error).message;
  }
  const support = await probeIdmapSupport(realpathSync(tmpdir()));
  if (!support.supported)
    return `${support.error?.message ?? 'idmapped mounts are not supported here'}${support.error?.hint ? ` (${support.error.hint})` : ''}`;
  return null;
}

const IDMAPS = [
  ['A', '0:100000:65536'],
  ['B', '0:200000:65536'],
] as const;
const FSIDMAP = '0:300000:65536';

export async function runSeedDemo(): Promise<SeedDemoResult> {
  const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'fsidmap-demo-')));
  const started: Container[] = [];
  try {
    const image = join(tmp, 'image');
    mkdirSync(image);
    const entries = makeSampleImage(image, { offset: 300000 });
    const hostLs = ls(image);
    const tag = `demo-${process.pid}-${Date.now().toString(36)}`;
    const script = (who: string) => `echo "== id"; id
echo "== ls"; ls -ln /
echo "== created"; echo "hello from ${who}" > /data/from-${who}; ls -ln /data/from-${who}
touch /tmp/ready; read go`;
    for (const [who, idmap] of IDMAPS) {
      const m = parseMap(idmap),
        f = parseMap(FSIDMAP);
      started.push(
        await startContainer(
          {
            name: `${tag}-${who}`,
            ids: { kind: 'maps', maps: { uid: m, gid: m } },
            fs: { kind: 'maps', maps: { uid: f, gid: f } },
            rootfs: image,
            command: ['/bin/sh', '-c', script(who)],
          },
          { stdio: ['pipe', 'pipe', 'pipe'] },
        ),
      );
    }
    const outputs = started.map((c) => capture(c));
    // Both run at once: wait until each has made its file and waits (on its stdin) with a mark in its own /tmp.
    const cmdPids = await Promise.all(
      started.map((c) =>
        waitFor(() => {
          const cmd = children(c.initPid)[0];
          return cmd !== undefined && existsSync(`/proc/${cmd}/root/tmp/ready`) ? cmd : undefined;
        }),
      ),
    );
    const processes = started.map((c, i) => [
      { pid: c.initPid, role: 'init' as const, ...ids(c.initPid) },
      { pid: cmdPids[i], role: 'cmd' as const, ...ids(cmdPids[i]) },
    ]);
    for (const c of started) c.stdin?.end('go\n');
    const results = await Promise.all(outputs);
    const containers = started.map((c, i): SeedDemoContainer => ({
      name: c.name,
      idmap: IDMAPS[i][1],
      fsidmap: FSIDMAP,
      id: section(results[i].stdout, 'id'),
      ls: section(results[i].stdout, 'ls'),
      created: section(results[i].stdout, 'created'),
      processes: processes[i],
      exitCode: results[i].code,
    }));
    for (const r of results)
      if (r.code !== 0) throw new FsidmapError('ERR_DEMO_FAILED', `a demo container failed (${r.code}): ${r.stderr.trim()}`);
    const landed = IDMAPS.map(([who]) => {
      const st = lstatSync(join(image, 'data', `from-${who}`));
      return { path: `/data/from-${who}`, uid: st.uid, gid: st.gid };
    });
    const left = { mounts: mountsUnder(tmp).length, processes: started.filter((c) => existsSync(`/proc/${c.initPid}`)).length };
    return { image, entries, hostLs, containers, landed, left };
  } finally {
    await Promise.all(started.map((c) => c.kill().catch(() => undefined)));
    rmSync(tmp, { recursive: true, force: true });
  }
}

function ls(dir: string): string {
  return spawnSync('ls', ['-ln', dir], { encoding: 'utf8' }).stdout.trimEnd();
}

function ids(pid: number): { uid: number[]; gid: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const line = (k: string) => (status.match(new RegExp(`^${k}:\\s+(.*)$`, 'm'))?.[1] ?? '').split(/\s+/).map(Number);
  return { uid: line('Uid'), gid: line('Gid') };
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function waitFor<T>(check: () => T | undefined): Promise<T> {
  const end = Date.now() + 10_000;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new FsidmapError('ERR_DEMO_FAILED', 'a demo container did not start in 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function capture(c: Container): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '',
    stderr = '';
  c.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  c.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  return c.exited.then((code) => ({ code, stdout, stderr }));
}

function section(out: string, name: string): string {
  const m = new RegExp(`== ${name}\\n([\\s\\S]*?)(?:\\n== |$)`).exec(out);
  return m ? m[1].trimEnd() : '';
}
