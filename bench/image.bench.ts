// The image store against its peer, and commit:
// 1. `fsidmap image import` of a Debian minbase image (mmdebstrap's tarball
//    put into an OCI layout by umoci: one gzip layer) against `umoci unpack`
//    of the same layout, interleaved: wall time and peak RSS (GNU time's %M)
//    of each whole process;
// 2. `fsidmap commit` of the same 1,000 changes (50 files of the image
//    changed, 50 deleted, 900 new) over a 100,000-file image and over a
//    100-file image, interleaved (the commit reads the writable layer only,
//    so the two should cost the same), in-process through the library that
//    `fsidmap commit` calls.
// Needs root, umoci and mmdebstrap (part 1 is skipped without them).
// Writes bench/results/image.json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commitContainer, startContainer } from '../src/container/index.js';
import { makeSampleImage } from '../src/container/sample-image.js';
import { parseMap } from '../src/idmap/index.js';
import { openImageStore } from '../src/image/index.js';
import { imageHolds, resolveImage } from '../src/cli/commands/run-image.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const cli = join(repo, 'dist/src/cli/main.js');
const IMPORT_RUNS = Number(process.env.BENCH_IMPORT_RUNS ?? 3);
const COMMIT_RUNS = Number(process.env.BENCH_COMMIT_RUNS ?? 5);

if (process.getuid?.() !== 0 || spawnSync('umoci', ['--version']).status !== 0) {
  console.log('image benchmark skipped: needs root and umoci');
  process.exit(0);
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** Wall seconds and peak RSS (KiB) of a whole process, by GNU time. */
function timed(cmd: string, args: string[]): { s: number; rssKiB: number } {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const [s, rss] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return { s, rssKiB: rss };
}

/** An OCI layout holding the tar as its one layer (umoci gzips it), tagged t. */
function layoutOf(tar: string, layout: string): string {
  sh('umoci', ['init', '--layout', layout]);
  sh('umoci', ['new', '--image', `${layout}:t`]);
  sh('umoci', ['raw', 'add-layer', '--image', `${layout}:t`, tar]);
  return layout;
}

function minbaseTarball(): string | null {
  const cache = join(tmpdir(), `fsidmap-debian-${new Date().toISOString().slice(0, 10)}`);
  const tar = join(cache, 'bookworm-minbase.tar');
  if (existsSync(tar)) return tar;
  if (spawnSync('mmdebstrap', ['--version']).status !== 0) return null;
  mkdirSync(cache, { recursive: true });
  const part = join(cache, `bookworm-minbase.bench-${process.pid}.tar`);
  const r = spawnSync('mmdebstrap', ['--quiet', '--variant=minbase', 'bookworm', part], { stdio: 'ignore' });
  if (r.status !== 0) return null;
  sh('mv', [part, tar]);
  return tar;
}

const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'fsidmap-bench-store-')));
const env = { ...process.env, FSIDMAP_STATE_DIR: join(tmp, 'state'), FSIDMAP_RUN_DIR: join(tmp, 'run') };
const results: Record<string, unknown> = {
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? null, kernel: release(), node: process.version, loadavg: loadavg() },
};
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Linux ${release()}, Node ${process.version}, load ${loadavg()[0].toFixed(1)}`,
);

try {
  // 1. Import against umoci unpack.
  const tar = minbaseTarball();
  if (tar) {
    const layout = layoutOf(tar, join(tmp, 'minbase'));
    const imp: Array<{ s: number; rssKiB: number }> = [];
    const umo: Array<{ s: number; rssKiB: number }> = [];
    for (let i = 0; i < IMPORT_RUNS; i++) {
      const store = join(tmp, `store-${i}`);
      imp.push(timed(process.execPath, [cli, 'image', 'import', '--store', store, `${layout}:t`]));
      rmSync(store, { recursive: true, force: true });
      const bundle = join(tmp, `bundle-${i}`);
      umo.push(timed('umoci', ['unpack', '--image', `${layout}:t`, bundle]));
      rmSync(bundle, { recursive: true, force: true });
    }
    const ratio = median(imp.map((x) => x.s)) / median(umo.map((x) => x.s));
    console.log(`import of Debian bookworm minbase (one gzip layer), ${IMPORT_RUNS} runs interleaved`);
    console.log(
      `  fsidmap image import   ${imp.map((x) => `${x.s.toFixed(2)} s`).join(', ')}; peak RSS ${imp.map((x) => `${(x.rssKiB / 1024).toFixed(0)} MiB`).join(', ')}`,
    );
    console.log(
      `  umoci unpack           ${umo.map((x) => `${x.s.toFixed(2)} s`).join(', ')}; peak RSS ${umo.map((x) => `${(x.rssKiB / 1024).toFixed(0)} MiB`).join(', ')}`,
    );
    console.log(`  ratio of medians       ${ratio.toFixed(2)}× (goal ≤ 1.2×)`);
    results.import = { runs: IMPORT_RUNS, fsidmap: imp, umoci: umo, ratioOfMedians: ratio };
  } else console.log('import benchmark skipped: no mmdebstrap');

  // 2. Commit of the same 1,000 changes over a small and a large image.
  const store = openImageStore({ env });
  const m = parseMap('0:100000:65536');
  const names: Record<number, string> = {};
  for (const files of [100, 100000]) {
    const tree = join(tmp, `tree-${files}`);
    mkdirSync(tree);
    makeSampleImage(tree, { offset: 0, files });
    const t = join(tmp, `tree-${files}.tar`);
    sh('tar', ['--numeric-owner', '-C', tree, '-cf', t, '.']);
    rmSync(tree, { recursive: true, force: true });
    await store.import(`${layoutOf(t, join(tmp, `oci-${files}`))}:t`, { name: `files:${files}` });
    names[files] = `commit-${files}`;
    const c = await startContainer(
      {
        name: names[files],
        ids: { kind: 'maps', maps: { uid: m, gid: m } },
        fs: { kind: 'none' },
        image: await resolveImage(`files:${files}`, env),
        holds: (await imageHolds(env))!,
        command: [
          '/bin/sh',
          '-c',
          'cd /data/files/0 && i=0; while [ $i -lt 50 ]; do echo changed >> f$i; i=$((i+1)); done; while [ $i -lt 100 ]; do rm f$i; i=$((i+1)); done; mkdir /data/new && cd /data/new && i=0; while [ $i -lt 900 ]; do echo new $i > n$i; i=$((i+1)); done',
        ],
      },
      { env, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    if ((await c.exited) !== 0) throw new Error('the container making the changes failed');
  }
  const commitMs: Record<number, number[]> = { 100: [], 100000: [] };
  let entries = 0;
  for (let i = 0; i < COMMIT_RUNS; i++) {
    for (const files of [100, 100000]) {
      const t0 = process.hrtime.bigint();
      const r = await commitContainer(store, names[files], `out-${files}:${i}`, { env });
      commitMs[files].push(Number(process.hrtime.bigint() - t0) / 1e6);
      entries = r.upper.entries;
      // Each run publishes anew: the result is removed and collected (not timed).
      await store.remove(r.digest);
      await store.gc();
    }
  }
  const med = { small: median(commitMs[100]), large: median(commitMs[100000]) };
  console.log(`commit of 1,000 changes (${entries} entries in the layer), ${COMMIT_RUNS} runs interleaved (ms)`);
  console.log(`  over a 100-file image       median ${med.small.toFixed(0)}  (${commitMs[100].map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`  over a 100,000-file image   median ${med.large.toFixed(0)}  (${commitMs[100000].map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`  ratio                       ${(med.large / med.small).toFixed(2)}× (goal ≤ 2×)`);
  results.commit = { runs: COMMIT_RUNS, entries, samplesMs: commitMs, medianMs: med, ratio: med.large / med.small };
  mkdirSync(join(repo, 'bench/results'), { recursive: true });
  writeFileSync(join(repo, 'bench/results/image.json'), JSON.stringify(results, null, 2) + '\n');
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
