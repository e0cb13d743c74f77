// One lifecycle of a background container — `fsidmap run -d` + `fsidmap exec
// NAME true` + `fsidmap stop NAME` — beside util-linux doing the same by
// hand: `unshare --user --map-root-user --mount --pid --fork sleep` in the
// background, `nsenter --all -t PID true`, then SIGKILL (sleep as its pid 1 ignores SIGTERM) and wait. Each
// phase is timed on its own too; interleaved runs. Writes
// bench/results/run-detached.json.
import { spawn, spawnSync } from 'node:child_process';
import { cpus, release, tmpdir } from 'node:os';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSampleImage } from '../src/container/sample-image.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const cli = join(repo, 'dist/src/cli/main.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 15);

if (process.getuid?.() !== 0) {
  console.log('run-detached benchmark skipped: needs root (idmapped mounts)');
  process.exit(0);
}

const now = () => Number(process.hrtime.bigint()) / 1e6;

function must(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function sleepMs(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** unshare's forked child (the container's pid 1), once it runs sleep. */
async function childOf(pid: number): Promise<number> {
  for (;;) {
    try {
      const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
      if (kids && readFileSync(`/proc/${kids}/cmdline`, 'latin1').startsWith('sleep')) return Number(kids);
    } catch {
      /* not yet */
    }
    await sleepMs(1);
  }
}

const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'fsidmap-bench-detached-')));
try {
  const root = join(tmp, 'image');
  mkdirSync(root);
  makeSampleImage(root, { offset: 300000, files: 100 });
  const env = { ...process.env, FSIDMAP_RUN_DIR: join(tmp, 'run') };
  const samples: Record<string, number[]> = {
    runD: [],
    exec: [],
    stop: [],
    fsidmapCycle: [],
    unshare: [],
    nsenter: [],
    kill: [],
    utilCycle: [],
  };
  const fsidmapCycle = (i: number) => {
    const name = `bench${i}`;
    const t0 = now();
    must(
      process.execPath,
      [
        cli,
        'run',
        '-d',
        '--rm',
        '--name',
        name,
        '--idmap',
        '0:100000:65536',
        '--fsidmap',
        '0:300000:65536',
        '--rootfs',
        root,
        '--',
        'sleep',
        '1000',
      ],
      env,
    );
    const t1 = now();
    must(process.execPath, [cli, 'exec', name, 'true'], env);
    const t2 = now();
    must(process.execPath, [cli, 'stop', name], env);
    const t3 = now();
    return [t1 - t0, t2 - t1, t3 - t2, t3 - t0];
  };
  const utilCycle = async () => {
    const t0 = now();
    const u = spawn('unshare', ['--user', '--map-root-user', '--mount', '--pid', '--fork', '--mount-proc', 'sleep', '1000'], {
      stdio: 'ignore',
    });
    const exited = new Promise((r) => u.once('exit', r));
    const init = await childOf(u.pid!);
    const t1 = now();
    must('nsenter', ['--all', '-t', String(init), 'true']);
    const t2 = now();
    // A pid namespace's init ignores SIGTERM it has no handler for, when it comes from outside: sleep as pid 1 needs SIGKILL.
    process.kill(init, 'SIGKILL');
    await exited;
    const t3 = now();
    return [t1 - t0, t2 - t1, t3 - t2, t3 - t0];
  };
  // Warm the page cache and fsidmap's support probe once.
  fsidmapCycle(-1);
  await utilCycle();
  for (let i = 0; i < RUNS; i++) {
    const [a, b, c, d] = fsidmapCycle(i);
    samples.runD.push(a);
    samples.exec.push(b);
    samples.stop.push(c);
    samples.fsidmapCycle.push(d);
    const [e, f, g, h] = await utilCycle();
    samples.unshare.push(e);
    samples.nsenter.push(f);
    samples.kill.push(g);
    samples.utilCycle.push(h);
  }
  const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
  const rows: Array<[string, number]> = [
    ['fsidmap run -d (until it returns: the container runs)', m.runD],
    ['fsidmap exec NAME true', m.exec],
    ['fsidmap stop NAME (SIGTERM; cleaned up)', m.stop],
    ['fsidmap cycle: run -d + exec true + stop', m.fsidmapCycle],
    ['unshare -U -r -m -p -f --mount-proc sleep (until it runs)', m.unshare],
    ['nsenter --all -t PID true', m.nsenter],
    ['kill -KILL PID, until unshare exits', m.kill],
    ['unshare + nsenter + kill cycle', m.utilCycle],
  ];
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Linux ${release()}, Node ${process.version}`);
  console.log(`median (ms), ${RUNS} interleaved cycles`);
  for (const [what, ms] of rows) console.log(`  ${what.padEnd(58)} ${ms.toFixed(1).padStart(8)}`);
  console.log(`  fsidmap cycle / unshare cycle ${(m.fsidmapCycle / m.utilCycle).toFixed(1)}×`);
  mkdirSync(join(repo, 'bench/results'), { recursive: true });
  writeFileSync(
    join(repo, 'bench/results/run-detached.json'),
    JSON.stringify(
      {
        machine: { cpus: cpus().length, model: cpus()[0]?.model ?? null, kernel: release(), node: process.version },
        runs: RUNS,
        medianMs: m,
        ratio: m.fsidmapCycle / m.utilCycle,
        samplesMs: samples,
      },
      null,
      2,
    ) + '\n',
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
