// Start-to-exit time of `fsidmap run ... -- /bin/true` with a 100-file and a
// 100,000-file image, beside what a chown-based runtime pays (a recursive
// chown of the same images), Node's own start-up (`node -e 0`) and
// util-linux's `unshare --user --mount --pid --fork true`, all measured in
// the same run, interleaved. Writes bench/results/run.json.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSampleImage } from '../src/container/sample-image.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const cli = join(repo, 'dist/src/cli/main.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 25);
const CHOWN_RUNS = Number(process.env.BENCH_CHOWN_RUNS ?? 5);

if (process.getuid?.() !== 0) {
  console.log('run benchmark skipped: needs root (idmapped mounts)');
  process.exit(0);
}

function timeOnce(cmd: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return ms;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'fsidmap-bench-run-')));
try {
  const images: Record<string, { root: string; entries: number }> = {};
  for (const [name, files] of [
    ['100', 100],
    ['100000', 100000],
  ] as const) {
    const root = join(tmp, `image-${name}`);
    mkdirSync(root);
    const entries = makeSampleImage(root, { offset: 300000, files });
    images[name] = { root, entries };
  }
  const run = (img: string) => [
    'run',
    '--idmap',
    '0:100000:65536',
    '--fsidmap',
    '0:300000:65536',
    '--rootfs',
    images[img].root,
    '--',
    '/bin/true',
  ];
  const samples: Record<string, number[]> = { run100: [], run100k: [], node: [], unshare: [] };
  // Warm the page cache and the probe's path once.
  timeOnce(process.execPath, [cli, ...run('100')]);
  timeOnce(process.execPath, [cli, ...run('100000')]);
  for (let i = 0; i < RUNS; i++) {
    samples.run100.push(timeOnce(process.execPath, [cli, ...run('100')]));
    samples.run100k.push(timeOnce(process.execPath, [cli, ...run('100000')]));
    samples.node.push(timeOnce(process.execPath, ['-e', '0']));
    samples.unshare.push(timeOnce('unshare', ['--user', '--mount', '--pid', '--fork', 'true']));
  }
  // A chown-based runtime shifts the whole tree to the container's range before it starts, every time the range changes.
  const chown: Record<string, number[]> = { chown100: [], chown100k: [] };
  for (let i = 0; i < CHOWN_RUNS; i++) {
    const to = i % 2 === 0 ? '100000:100000' : '300000:300000';
    chown.chown100.push(timeOnce('chown', ['-R', '-h', to, images['100'].root]));
    chown.chown100k.push(timeOnce('chown', ['-R', '-h', to, images['100000'].root]));
  }
  const m = Object.fromEntries(Object.entries({ ...samples, ...chown }).map(([k, v]) => [k, median(v)]));
  const rows: Array<[string, number, string]> = [
    [`fsidmap run -- /bin/true, ${images['100'].entries}-entry image`, m.run100, `${RUNS} runs`],
    [`fsidmap run -- /bin/true, ${images['100000'].entries}-entry image`, m.run100k, `${RUNS} runs`],
    ['node -e 0', m.node, `${RUNS} runs`],
    ['unshare --user --mount --pid --fork true', m.unshare, `${RUNS} runs`],
    [`chown -R, ${images['100'].entries}-entry image`, m.chown100, `${CHOWN_RUNS} runs`],
    [`chown -R, ${images['100000'].entries}-entry image`, m.chown100k, `${CHOWN_RUNS} runs`],
  ];
  const ratios = {
    run100kOverRun100: m.run100k / m.run100,
    runOverNode: m.run100 / m.node,
    run100kOverNode: m.run100k / m.node,
    runOverUnshare: m.run100 / m.unshare,
    chown100kOverChown100: m.chown100k / m.chown100,
    chown100kOverRun100k: m.chown100k / m.run100k,
  };
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Linux ${release()}, Node ${process.version}`);
  console.log('median start-to-exit (ms)');
  for (const [what, ms, n] of rows) console.log(`  ${what.padEnd(52)} ${ms.toFixed(1).padStart(9)}   (${n})`);
  console.log('ratios');
  console.log(
    `  run, 100k-file image / 100-file image      ${ratios.run100kOverRun100.toFixed(2)}×  (goal ≤ 1.2×: mapping costs the same whatever the size)`,
  );
  console.log(`  run / node -e 0                             ${ratios.runOverNode.toFixed(2)}×  (goal ≤ 3×)`);
  console.log(`  run / unshare --user --mount --pid --fork   ${ratios.runOverUnshare.toFixed(1)}×`);
  console.log(
    `  chown -R, 100k-file image / 100-file image  ${ratios.chown100kOverChown100.toFixed(0)}×  (what chown-based runtimes pay grows with the image)`,
  );
  console.log(`  chown -R of the 100k image / fsidmap run     ${ratios.chown100kOverRun100k.toFixed(1)}×`);
  mkdirSync(join(repo, 'bench/results'), { recursive: true });
  writeFileSync(
    join(repo, 'bench/results/run.json'),
    JSON.stringify(
      {
        machine: { cpus: cpus().length, model: cpus()[0]?.model ?? null, kernel: release(), node: process.version },
        runs: RUNS,
        chownRuns: CHOWN_RUNS,
        entries: { small: images['100'].entries, large: images['100000'].entries },
        medianMs: m,
        ratios,
        samplesMs: { ...samples, ...chown },
      },
      null,
      2,
    ) + '\n',
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
