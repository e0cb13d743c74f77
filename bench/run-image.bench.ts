// fsidmap run on an image's layers (overlay over idmapped layers):
// 1. start-to-exit of a container running /bin/true over a 5-layer image of
//    100 files and of 100,000 files (ratio: no step may touch every file),
//    interleaved, beside util-linux's `unshare` as the floor;
// 2. the disk 50 containers add before they write (du of their
//    directories), from a Debian minbase image when mmdebstrap's tarball is
//    at hand (else the sample image), against the chown-a-copy approach of
//    runtimes without idmapped mounts (a copy per container, chowned to its
//    range), measured beside it (time and du).
// Run in-process through the library (fsidmap run --image goes through the
// same startContainer). Writes bench/results/run-image.json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ImageSpec, startContainer } from '../src/container/index.js';
import { makeSampleImage } from '../src/container/sample-image.js';
import { parseMap } from '../src/idmap/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 25);
const CONTAINERS = Number(process.env.BENCH_CONTAINERS ?? 50);

if (process.getuid?.() !== 0) {
  console.log('run-image benchmark skipped: needs root (idmapped mounts)');
  process.exit(0);
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
const duKiB = (...paths: string[]) =>
  Number(
    sh('du', ['-s', '-k', '-c', ...paths])
      .trim()
      .split('\n')
      .pop()!
      .split(/\s+/)[0],
  );
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'fsidmap-bench-image-')));
const env = { ...process.env, FSIDMAP_STATE_DIR: join(tmp, 'state'), FSIDMAP_RUN_DIR: join(tmp, 'run') };
const pair = (spec: string) => {
  const m = parseMap(spec);
  return { uid: m, gid: m };
};

/** Five layers holding `files` regular files in all (layer 1 also has the programs); layers 2–5 each delete one file of layer 1. */
function fiveLayers(dir: string, files: number): ImageSpec {
  const layers: string[] = [];
  for (let i = 1; i <= 5; i++) {
    const l = join(dir, `l${i}`);
    mkdirSync(l, { recursive: true });
    if (i === 1) makeSampleImage(l, { offset: 0, files: Math.floor(files / 5) });
    else {
      const d = join(l, 'data', `l${i}`);
      mkdirSync(d, { recursive: true });
      for (let f = 0; f < Math.floor(files / 5); f++) writeFileSync(join(d, String(f)), '');
      sh('mknod', [join(l, 'data', `gone-${i}`), 'c', '0', '0']);
    }
    layers.push(l);
  }
  return {
    ref: `five-${files}`,
    digest: `sha256:${String(files).padStart(64, '0')}`,
    config: {},
    layers: layers.map((path, i) => ({ diffId: `l${i}`, path })),
  };
}

async function runOnce(image: ImageSpec, name?: string, idmap = '0:100000:65536'): Promise<number> {
  const t0 = process.hrtime.bigint();
  const c = await startContainer(
    { ...(name ? { name } : {}), ids: { kind: 'maps', maps: pair(idmap) }, fs: { kind: 'none' }, image, command: ['/bin/true'] },
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const code = await c.exited;
  if (code !== 0) throw new Error(`container exited ${code}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function time(cmd: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  sh(cmd, args);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** The Debian minbase tarball the integration tests make with mmdebstrap (same cache), or null. */
function minbaseTarball(): string | null {
  const cache = join(tmpdir(), `fsidmap-debian-${new Date().toISOString().slice(0, 10)}`);
  const tar = join(cache, 'bookworm-minbase.tar');
  if (existsSync(tar)) return tar;
  if (spawnSync('mmdebstrap', ['--version']).status !== 0) return null;
  mkdirSync(cache, { recursive: true });
  const part = join(cache, 'bookworm-minbase.partial.tar');
  const r = spawnSync('mmdebstrap', ['--quiet', '--variant=minbase', 'bookworm', part], { stdio: 'ignore' });
  if (r.status !== 0) return null;
  sh('mv', [part, tar]);
  return tar;
}

try {
  // 1. Start time over five layers.
  const small = fiveLayers(join(tmp, 'img-100'), 100);
  const large = fiveLayers(join(tmp, 'img-100000'), 100000);
  await runOnce(small);
  await runOnce(large);
  const s: Record<string, number[]> = { small: [], large: [], unshare: [] };
  for (let i = 0; i < RUNS; i++) {
    s.small.push(await runOnce(small));
    s.large.push(await runOnce(large));
    s.unshare.push(time('unshare', ['--user', '--mount', '--pid', '--fork', 'true']));
  }
  const m = { small: median(s.small), large: median(s.large), unshare: median(s.unshare) };
  // On a shared machine the fastest run is the one least disturbed by others: shown beside the median.
  const best = { small: Math.min(...s.small), large: Math.min(...s.large) };

  // 2. Disk of 50 containers, against a chowned copy each.
  const tar = minbaseTarball();
  const base = join(tmp, 'base');
  mkdirSync(base);
  let imageName: string;
  if (tar) {
    sh('tar', ['-x', '--numeric-owner', '--same-owner', '-p', '--xattrs', '-f', tar, '-C', base]);
    imageName = 'Debian bookworm minbase';
  } else {
    makeSampleImage(base, { offset: 0 });
    imageName = 'the sample image (no mmdebstrap here)';
  }
  const image: ImageSpec = { ref: 'base', digest: 'sha256:' + 'b'.repeat(64), config: {}, layers: [{ diffId: 'base', path: base }] };
  const imageKiB = duKiB(base);
  const startMs: number[] = [];
  for (let i = 0; i < CONTAINERS; i++) startMs.push(await runOnce(image, `c${i}`, `0:${100000 + 65536 * i}:65536`));
  const overlayKiB = duKiB(join(tmp, 'state', 'containers'));
  const copies = join(tmp, 'copies');
  mkdirSync(copies);
  const copyMs: number[] = [];
  for (let i = 0; i < CONTAINERS; i++) {
    const t0 = process.hrtime.bigint();
    const to = join(copies, `c${i}`);
    sh('cp', ['-a', base, to]);
    sh('chown', ['-R', '-h', `${100000 + 65536 * i}:${100000 + 65536 * i}`, to]);
    copyMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const copiesKiB = duKiB(copies);

  const ratios = {
    start100kOver100: m.large / m.small,
    start100kOver100Best: best.large / best.small,
    startOverUnshare: m.small / m.unshare,
    copiesOverOverlayDisk: copiesKiB / Math.max(overlayKiB, 1),
    copyOverStart: median(copyMs) / median(startMs),
  };
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Linux ${release()}, Node ${process.version}`);
  console.log(`median start-to-exit of /bin/true over a 5-layer image (ms, ${RUNS} runs each, interleaved)`);
  console.log(`  100 files                                  ${m.small.toFixed(1).padStart(8)}   (fastest ${best.small.toFixed(1)})`);
  console.log(`  100,000 files                              ${m.large.toFixed(1).padStart(8)}   (fastest ${best.large.toFixed(1)})`);
  console.log(`  unshare --user --mount --pid --fork true   ${m.unshare.toFixed(1).padStart(8)}`);
  console.log(
    `  ratio 100,000 / 100 files                  ${ratios.start100kOver100.toFixed(2)}×  (fastest runs ${ratios.start100kOver100Best.toFixed(2)}×; goal ≤ 1.2×)`,
  );
  console.log(`${CONTAINERS} containers from ${imageName} (${imageKiB} KiB)`);
  console.log(
    `  fsidmap (shared layers + own writable layer): ${overlayKiB} KiB added in all (goal ≤ 1024), median start ${median(startMs).toFixed(1)} ms`,
  );
  console.log(
    `  chown-a-copy beside it:                       ${copiesKiB} KiB, median ${median(copyMs).toFixed(0)} ms per container before it starts`,
  );
  console.log(`  ratio disk copies / fsidmap                    ${ratios.copiesOverOverlayDisk.toFixed(0)}×`);
  console.log(`  ratio time copy+chown / fsidmap start          ${ratios.copyOverStart.toFixed(1)}×`);
  mkdirSync(join(repo, 'bench/results'), { recursive: true });
  writeFileSync(
    join(repo, 'bench/results/run-image.json'),
    JSON.stringify(
      {
        machine: { cpus: cpus().length, model: cpus()[0]?.model ?? null, kernel: release(), node: process.version },
        runs: RUNS,
        containers: CONTAINERS,
        image: imageName,
        bestMs: best,
        medianMs: { ...m, fiftyStart: median(startMs), fiftyCopy: median(copyMs) },
        diskKiB: { image: imageKiB, overlay: overlayKiB, copies: copiesKiB },
        ratios,
        samplesMs: { ...s, fiftyStart: startMs, fiftyCopy: copyMs },
      },
      null,
      2,
    ) + '\n',
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
