// `fsidmap tar shift` against its peer and against the I/O floor, all measured
// in one run on the same inputs:
//   - an archive of 100,000 small files (GNU tar, ~330 MB): fsidmap vs
//     mmtarfilter --idshift (goal: at least 10x its throughput), and peak RSS
//     of both at 10,000 and 100,000 files (memory must not grow with size);
//   - a varied archive of 100,000 PAX entries (random sizes, long names and
//     link targets, an 8 MiB file; variedArchive), once with a PAX header on
//     every entry (GNU tar --format=posix) and once only where needed
//     (Python tarfile's default): the same goal (issue 15);
//   - an archive of large files (1 GiB): fsidmap vs `cat` through the same
//     pipe (goal: at least half of cat's throughput);
//   - a Debian bookworm minbase tarball built by mmdebstrap.
// Every command runs as `cat IN | CMD | cat > /dev/null`; CMD's own wall time
// and peak RSS come from /usr/bin/time. Prints a table, writes
// bench/results/tar.json. Inputs are cached under os.tmpdir().
// BENCH_TAR_ONLY=varied,100k (labels' words) measures only those inputs.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  truncateSync,
  lchownSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'src', 'cli', 'main.js');
const CACHE = join(tmpdir(), 'fsidmap-bench-tar');
const RESULTS = join(here, '..', '..', 'bench', 'results', 'tar.json');
const MAP = '0:100000:65536';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

function sh(script: string, args: string[] = []): string {
  const r = spawnSync('sh', ['-c', script, 'sh', ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${script} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** A deterministic pseudo-random sequence, so the cached inputs are the same on every machine. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** GNU tar archive of `files` small files (100 per directory, 100–6500 bytes, owners 0–1999). */
function smallArchive(files: number): string {
  const out = join(CACHE, `small-${files}.tar`);
  if (existsSync(out)) return out;
  const tree = join(CACHE, `small-${files}`);
  rmSync(tree, { recursive: true, force: true });
  const rand = rng(files);
  const pool = Buffer.alloc(1 << 16);
  for (let i = 0; i < pool.length; i++) pool[i] = Math.floor(rand() * 256);
  for (let d = 0; d < files / 100; d++) {
    const dir = join(tree, `d${String(d).padStart(5, '0')}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 100; f++) {
      const p = join(dir, `f${String(f).padStart(3, '0')}`);
      const size = 100 + Math.floor(rand() * 6400);
      const at = Math.floor(rand() * (pool.length - size));
      writeFileSync(p, pool.subarray(at, at + size));
      lchownSync(p, Math.floor(rand() * 2000), Math.floor(rand() * 2000));
    }
  }
  sh('tar --sort=name -cf "$1.tmp" -C "$2" . && mv "$1.tmp" "$1"', [out, tree]);
  rmSync(tree, { recursive: true, force: true });
  return out;
}

/**
 * An archive the project did not write its parser for (issue 15): 100,000
 * entries in PAX format (GNU tar --format=posix, so every entry has its own
 * PAX header of times), files of 0–5,000 bytes of random data, 1% of names
 * over 160 bytes (a PAX path record), 2% symlinks with targets of 100–300
 * bytes (a PAX linkpath record), and one 8 MiB file.
 */
function variedArchive(): string {
  const out = join(CACHE, 'varied-100k.tar');
  if (existsSync(out)) return out;
  const tree = join(CACHE, 'varied');
  rmSync(tree, { recursive: true, force: true });
  const rand = rng(15);
  const pool = Buffer.alloc(1 << 20);
  for (let i = 0; i < pool.length; i++) pool[i] = Math.floor(rand() * 256);
  const id = () => Math.floor(rand() * 2000);
  let n = 0;
  for (let d = 0; n < 100000; d++) {
    const dir = join(tree, `dir${String(d).padStart(4, '0')}`);
    mkdirSync(dir, { recursive: true });
    lchownSync(dir, id(), id());
    n++;
    for (let f = 0; f < 99 && n < 100000; f++, n++) {
      const r = rand();
      const base = `f${String(f).padStart(3, '0')}`;
      const name = r < 0.01 ? `${base}-${'x'.repeat(161 + Math.floor(rand() * 80))}` : base;
      const p = join(dir, name);
      if (r >= 0.01 && r < 0.03) {
        symlinkSync(`../${'t'.repeat(100 + Math.floor(rand() * 200))}`, p);
        lchownSync(p, id(), id());
        continue;
      }
      const size = d === 0 && f === 0 ? 8 << 20 : Math.floor(rand() * 5001);
      const at = Math.floor(rand() * (pool.length - Math.min(size, pool.length)));
      writeFileSync(
        p,
        size > pool.length ? Buffer.concat(Array.from({ length: size / pool.length }, () => pool)) : pool.subarray(at, at + size),
      );
      lchownSync(p, id(), id());
    }
  }
  sh('tar --format=posix --sort=name -cf "$1.tmp" -C "$2" . && mv "$1.tmp" "$1"', [out, tree]);
  rmSync(tree, { recursive: true, force: true });
  return out;
}

/**
 * The same entries with PAX headers only where a ustar header cannot hold
 * them (the long names and link targets), as Python's tarfile writes PAX
 * archives by default: rewritten from variedArchive() by tarfile itself.
 */
function variedSparsePaxArchive(): string {
  const out = join(CACHE, 'varied-100k-pax-where-needed.tar');
  if (existsSync(out)) return out;
  const script = [
    'import sys, tarfile',
    'src = tarfile.open(sys.argv[1])',
    "dst = tarfile.open(sys.argv[2] + '.tmp', 'w', format=tarfile.PAX_FORMAT)",
    'for m in src:',
    '    m.pax_headers = {}',
    '    m.mtime = int(m.mtime)',
    '    dst.addfile(m, src.extractfile(m) if m.isfile() else None)',
    'dst.close()',
  ].join('\n');
  sh('python3 -c "$1" "$2" "$3" && mv "$3.tmp" "$3"', [script, variedArchive(), out]);
  return out;
}

/** GNU tar archive of 8 files of 128 MiB. */
function largeArchive(): string {
  const out = join(CACHE, 'large.tar');
  if (existsSync(out)) return out;
  const tree = join(CACHE, 'large');
  mkdirSync(tree, { recursive: true });
  for (let i = 0; i < 8; i++) {
    const p = join(tree, `blob${i}`);
    // Random-looking bytes at the start, the rest read back as zeros: tar stores them all.
    writeFileSync(p, Buffer.alloc(1 << 20, i + 1));
    truncateSync(p, 128 << 20);
    lchownSync(p, 1000 + i, 1000 + i);
  }
  sh('tar -cf "$1.tmp" -C "$2" . && mv "$1.tmp" "$1"', [out, tree]);
  rmSync(tree, { recursive: true, force: true });
  return out;
}

function minbaseArchive(): string | undefined {
  const shared = join(tmpdir(), 'fsidmap-test-minbase-bookworm.tar');
  if (existsSync(shared)) return shared;
  if (!have('mmdebstrap') || process.getuid?.() !== 0) return undefined;
  const temp = `${shared}.${process.pid}.tmp.tar`;
  sh('mmdebstrap --quiet --variant=minbase bookworm "$1"', [temp]);
  renameSync(temp, shared);
  return shared;
}

interface Sample {
  seconds: number;
  rssMB: number;
  user: number;
  sys: number;
}

/** One run of `cat IN | CMD | cat > /dev/null`, CMD timed by /usr/bin/time. */
function once(cmd: string[], input: string): Sample {
  const timeFile = join(CACHE, 'time.out');
  const args = cmd.map((_, i) => `"$${i + 3}"`).join(' ');
  sh(`cat "$1" | /usr/bin/time -f '%e %M %U %S' -o "$2" ${args} | cat > /dev/null`, [input, timeFile, ...cmd]);
  const [e, m, u, s] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { seconds: e, rssMB: m / 1024, user: u, sys: s };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

interface Row {
  input: string;
  tool: string;
  mb: number;
  runs: Sample[];
  /** Best and median wall time of the tool's own process; MB/s from the best. */
  best: number;
  median: number;
  mbPerS: number;
  /** Best user+sys CPU seconds: the least disturbed by other load on the machine. */
  cpu: number;
  rssMB: number;
}

/**
 * Measures the tools on one input in interleaved rounds (cat, fsidmap,
 * mmtarfilter, cat, ...) so that load from elsewhere on the machine hits
 * them alike; the best of the rounds is the figure, as hyperfine's min.
 */
function measureAll(input: string, label: string, tools: Array<[string, string[], number]>): Row[] {
  const only = process.env.BENCH_TAR_ONLY?.split(',').filter((w) => w !== '');
  if (only && !only.some((w) => label.includes(w))) return [];
  const samples = new Map<string, Sample[]>(tools.map(([t]) => [t, []]));
  const rounds = Math.max(...tools.map(([, , n]) => n));
  for (let i = 0; i < rounds; i++) {
    for (const [tool, cmd, n] of tools) if (i < n) samples.get(tool)!.push(once(cmd, input));
  }
  const mb = statSync(input).size / 1e6;
  return tools.map(([tool]) => {
    const runs = samples.get(tool)!;
    const best = Math.min(...runs.map((r) => r.seconds));
    return {
      input: label,
      tool,
      mb,
      runs,
      best,
      median: median(runs.map((r) => r.seconds)),
      mbPerS: mb / Math.max(best, 0.005),
      cpu: Math.min(...runs.map((r) => r.user + r.sys)),
      rssMB: Math.max(...runs.map((r) => r.rssMB)),
    };
  });
}

function main(): void {
  if (!existsSync('/usr/bin/time')) {
    console.log('tar bench: /usr/bin/time is missing (Debian package time, in scripts/debian-packages.txt); skipped');
    return;
  }
  const hasPeer = have('mmtarfilter');
  mkdirSync(CACHE, { recursive: true });
  const load = [loadavg()[0]];
  const fsidmap = ['node', CLI, 'tar', 'shift', MAP];
  const peer = ['mmtarfilter', '--idshift', '100000'];
  const rows: Row[] = [];
  const small10k = smallArchive(10000);
  const small100k = smallArchive(100000);
  const varied = variedArchive();
  const variedSparse = variedSparsePaxArchive();
  const large = largeArchive();
  const minbase = minbaseArchive();

  const peerRuns = (n: number): Array<[string, string[], number]> => (hasPeer ? [['mmtarfilter', peer, n]] : []);
  rows.push(...measureAll(small100k, '100k small files', [['cat', ['cat'], RUNS], ['fsidmap', fsidmap, RUNS], ...peerRuns(1)]));
  rows.push(...measureAll(varied, 'varied 100k (PAX)', [['cat', ['cat'], RUNS], ['fsidmap', fsidmap, RUNS], ...peerRuns(RUNS)]));
  rows.push(...measureAll(variedSparse, 'varied 100k (1% PAX)', [['cat', ['cat'], RUNS], ['fsidmap', fsidmap, RUNS], ...peerRuns(RUNS)]));
  rows.push(...measureAll(small10k, '10k small files', [['cat', ['cat'], RUNS], ['fsidmap', fsidmap, RUNS], ...peerRuns(RUNS)]));
  rows.push(...measureAll(large, '8 x 128 MiB files', [['cat', ['cat'], RUNS], ['fsidmap', fsidmap, RUNS], ...peerRuns(1)]));
  if (minbase) rows.push(...measureAll(minbase, 'Debian minbase', [['cat', ['cat'], RUNS], ['fsidmap', fsidmap, RUNS], ...peerRuns(RUNS)]));
  load.push(loadavg()[0]);

  const find = (input: string, tool: string): Row | undefined => rows.find((r) => r.input === input && r.tool === tool);
  const ratios: Record<string, { wall: number; cpu: number } | null> = {};
  for (const input of [...new Set(rows.map((r) => r.input))]) {
    const f = find(input, 'fsidmap')!;
    const c = find(input, 'cat')!;
    const m = find(input, 'mmtarfilter');
    ratios[`${input}: fsidmap vs mmtarfilter`] = m ? { wall: m.best / f.best, cpu: m.cpu / f.cpu } : null;
    ratios[`${input}: fsidmap vs cat`] = { wall: c.best / f.best, cpu: c.cpu / f.cpu };
  }

  const pad = (s: string, n: number): string => s.padEnd(n);
  const num = (n: number, d = 2, w = 9): string => n.toFixed(d).padStart(w);
  console.log(
    `machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, load average ${load.map((l) => l.toFixed(1)).join(' -> ')}`,
  );
  console.log(
    `each: cat IN | TOOL | cat > /dev/null, interleaved rounds; best (and median) of ${RUNS} runs (mmtarfilter: 1 run on the 100k and large archives)\n`,
  );
  console.log(
    `${pad('input', 18)} ${pad('tool', 12)} ${'MB'.padStart(7)} ${'best s'.padStart(7)} ${'median s'.padStart(9)} ${'MB/s'.padStart(6)} ${'CPU s'.padStart(6)} ${'peak RSS MB'.padStart(11)}`,
  );
  for (const r of rows)
    console.log(
      `${pad(r.input, 18)} ${pad(r.tool, 12)} ${num(r.mb, 1, 7)} ${num(r.best, 2, 7)} ${num(r.median, 2, 9)} ${num(r.mbPerS, 0, 6)} ${num(r.cpu, 2, 6)} ${num(r.rssMB, 1, 11)}`,
    );
  console.log('\nthroughput ratios (fsidmap faster when > 1), by best wall time and by CPU time:');
  for (const [k, v] of Object.entries(ratios))
    if (v !== null) console.log(`  ${pad(k, 40)} wall ${v.wall.toFixed(2)}x   cpu ${v.cpu.toFixed(2)}x`);
  const goals = {
    smallVsPeer: ratios['100k small files: fsidmap vs mmtarfilter']?.wall ?? null,
    variedVsPeer: ratios['varied 100k (PAX): fsidmap vs mmtarfilter']?.wall ?? null,
    variedSparseVsPeer: ratios['varied 100k (1% PAX): fsidmap vs mmtarfilter']?.wall ?? null,
    largeVsCat: ratios['8 x 128 MiB files: fsidmap vs cat']?.wall ?? NaN,
    rssMB: {
      '10k small': find('10k small files', 'fsidmap')?.rssMB ?? NaN,
      '100k small': find('100k small files', 'fsidmap')?.rssMB ?? NaN,
      '1 GiB large': find('8 x 128 MiB files', 'fsidmap')?.rssMB ?? NaN,
    },
    peerRssMB: hasPeer
      ? {
          '10k small': find('10k small files', 'mmtarfilter')?.rssMB ?? NaN,
          '100k small': find('100k small files', 'mmtarfilter')?.rssMB ?? NaN,
        }
      : null,
  };
  console.log(
    `\ngoals: 100k small files >= 10x mmtarfilter: ${goals.smallVsPeer?.toFixed(1) ?? 'n/a'}x; varied 100k (PAX) >= 10x: ${goals.variedVsPeer?.toFixed(1) ?? 'n/a'}x; varied 100k (1% PAX) >= 10x: ${goals.variedSparseVsPeer?.toFixed(1) ?? 'n/a'}x; large files >= 0.5x cat: ${goals.largeVsCat.toFixed(2)}x`,
  );
  console.log(
    `peak RSS, fsidmap 10k/100k/1 GiB: ${Object.values(goals.rssMB)
      .map((x) => x.toFixed(0))
      .join('/')} MB; mmtarfilter 10k/100k: ${
      goals.peerRssMB
        ? Object.values(goals.peerRssMB)
            .map((x) => x.toFixed(0))
            .join('/')
        : 'n/a'
    } MB`,
  );
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(
    RESULTS,
    JSON.stringify(
      {
        bench: 'tar',
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: totalmem() / 2 ** 30, node: process.version, loadavg: load },
        map: MAP,
        rows,
        ratios,
        goals,
      },
      null,
      2,
    ) + '\n',
  );
}

main();
