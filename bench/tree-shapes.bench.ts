// `fsidmap image shift` on two shapes of the same size (issue 15): a deep tree
// of 100,000 entries (mean depth ~240, max 484) and a shallow one (mean depth
// ~11), each with 1,947 hard links, 906 ACLs and 270 v2 file capabilities,
// against Incus/LXD's fuidshift and `chown -hR`, all in one run. Goal on both
// shapes: at most 0.2x fuidshift's time and 2x chown's, and a journal whose
// size follows the entries, not the bytes of their paths (journalBytes of
// --json). Every command of every round gets a fresh copy (cp -a, sync) on a
// journaled ext4 made for the run in a loop-mounted image; the order rotates
// from round to round; medians of BENCH_RUNS rounds (default 3). Prints a
// table, writes bench/results/tree-shapes.json. Root only.
import { spawnSync } from 'node:child_process';
import { linkSync, lchownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'src', 'cli', 'main.js');
const MOUNT = join(tmpdir(), `fsidmap-bench-shapes-${process.pid}`);
const IMAGE = `${MOUNT}.img`;
const WORK = join(MOUNT, 'work');
const RESULTS = join(here, '..', '..', 'bench', 'results', 'tree-shapes.json');
const ENTRIES = Number(process.env.BENCH_TREE_ENTRIES ?? 100000);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const SKIP_FUIDSHIFT = process.env.BENCH_NO_FUIDSHIFT === '1';
const MAP = '0:100000:65536';
const HARD_LINKS = 1947,
  ACLS = 906,
  CAPS = 270;

interface Shape {
  readonly name: string;
  /** Directories of each chain (the deepest entry is one below the last). */
  readonly depth: number;
}
const SHAPES: Shape[] = [
  { name: 'deep', depth: 483 },
  { name: 'shallow', depth: 21 },
];
const FILES_PER_DIR = 3;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function must(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 4).join(' ')}…: ${r.stderr}`);
}

/**
 * Chains of `depth` directories (4-byte names, as l042), each holding
 * FILES_PER_DIR entries, until ENTRIES: owners 0–1999, HARD_LINKS links to
 * earlier files, ACLS files with an ACL, CAPS with a v2 capability (setcap as
 * root in the initial namespace writes v2). Returns the mean and max depth.
 */
function makeShape(root: string, shape: Shape): { meanDepth: number; maxDepth: number } {
  const rand = rng(ENTRIES + shape.depth);
  const id = () => Math.floor(rand() * 2000);
  mkdirSync(root, { recursive: true });
  let n = 1,
    depthSum = 0,
    maxDepth = 0;
  const files: string[] = [];
  let links = 0;
  for (let chain = 0; n < ENTRIES; chain++) {
    let dir = join(root, `c${chain}`);
    for (let level = 1; level <= shape.depth && n < ENTRIES; level++) {
      if (level > 1) dir = join(dir, `l${String(level).padStart(3, '0')}`);
      mkdirSync(dir);
      lchownSync(dir, id(), id());
      n++;
      depthSum += level;
      maxDepth = Math.max(maxDepth, level);
      for (let f = 0; f < FILES_PER_DIR && n < ENTRIES; f++, n++) {
        const p = join(dir, `f${f}`);
        depthSum += level + 1;
        maxDepth = Math.max(maxDepth, level + 1);
        if (links < HARD_LINKS && files.length > 10 && (files.length + f) % 37 === 5) {
          linkSync(files[Math.floor(rand() * files.length)], p);
          links++;
          continue;
        }
        writeFileSync(p, '');
        lchownSync(p, id(), id());
        files.push(p);
      }
    }
  }
  if (links < HARD_LINKS) throw new Error(`only ${links} hard links; raise their rate`);
  const spread = (count: number, offset: number) => files.filter((_, i) => i % Math.floor(files.length / count) === offset).slice(0, count);
  const acl = spread(ACLS, 3);
  for (let i = 0; i < acl.length; i += 200) must('setfacl', ['-m', 'u:1000:rwx,g:50:rx', ...acl.slice(i, i + 200)]);
  const caps = spread(CAPS, 7);
  for (let i = 0; i < caps.length; i += 100)
    must(
      'setcap',
      caps.slice(i, i + 100).flatMap((f) => ['cap_net_raw+ep', f]),
    );
  return { meanDepth: depthSum / (n - 1), maxDepth };
}

interface Timed {
  ms: number;
  stdout: string;
}

function run(cmd: string, args: string[]): Timed {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    env: { ...process.env, FSIDMAP_STATE_DIR: join(WORK, 'state') },
  });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const COMMANDS: Record<string, (dir: string) => Timed> = {
  fsidmap: (dir) => run('node', [CLI, 'image', 'shift', '--json', dir, MAP]),
  ...(SKIP_FUIDSHIFT ? {} : { fuidshift: (dir: string) => run('fuidshift', [dir, 'b:0:100000:65536']) }),
  'chown -hR': (dir) => run('chown', ['-hR', '100000:100000', dir]),
};

function main(): void {
  if (process.getuid?.() !== 0) {
    console.log('tree-shapes bench: needs root (chown); skipped');
    return;
  }
  if (!SKIP_FUIDSHIFT && spawnSync('fuidshift', ['--version']).status !== 0) {
    console.log('tree-shapes bench: fuidshift (lxd-tools or incus-tools) is missing; skipped');
    return;
  }
  mkdirSync(MOUNT, { recursive: true });
  must('truncate', ['-s', '8G', IMAGE]);
  must('mkfs.ext4', ['-q', '-F', '-N', '600000', '-E', 'lazy_itable_init=0,lazy_journal_init=0', IMAGE]);
  must('mount', ['-o', 'loop', IMAGE, MOUNT]);
  try {
    bench();
  } finally {
    spawnSync('umount', [MOUNT]);
    rmSync(IMAGE, { force: true });
    rmSync(MOUNT, { recursive: true, force: true });
  }
}

function bench(): void {
  const shapes = SHAPES.map((s) => {
    const template = join(WORK, `template-${s.name}`);
    const t0 = performance.now();
    const depth = makeShape(template, s);
    console.log(
      `${s.name}: ${ENTRIES.toLocaleString('en-US')} entries, mean depth ${depth.meanDepth.toFixed(1)}, max ${depth.maxDepth}, ` +
        `${HARD_LINKS} hard links, ${ACLS} ACLs, ${CAPS} v2 capabilities; made in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    return { ...s, template, depth };
  });
  spawnSync('sync');
  console.log(
    `ext4 with a journal (loop-mounted ${IMAGE}); ${RUNS} rounds, a fresh copy per command and round; load ${loadavg()[0].toFixed(2)}`,
  );
  const times: Record<string, number[]> = {};
  const phases: Record<string, Record<string, number[]>> = {};
  const journal: Record<string, number[]> = {};
  const keys = Object.keys(COMMANDS);
  for (let r = 0; r < RUNS; r++) {
    for (const s of shapes) {
      for (let k = 0; k < keys.length; k++) {
        const key = keys[(k + r) % keys.length];
        const dir = join(WORK, 'copy');
        must('cp', ['-a', s.template, dir]);
        spawnSync('sync');
        const t = COMMANDS[key](dir);
        (times[`${s.name} ${key}`] ??= []).push(t.ms);
        if (key === 'fsidmap') {
          const report = JSON.parse(t.stdout) as { phasesMs: Record<string, number>; journalBytes?: number };
          for (const [p, ms] of Object.entries(report.phasesMs)) ((phases[s.name] ??= {})[p] ??= []).push(ms);
          if (report.journalBytes !== undefined) (journal[s.name] ??= []).push(report.journalBytes);
        }
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  console.log('\n' + 'command'.padEnd(26) + 'median ms'.padStart(11) + '   rounds (ms)');
  for (const [k, ms] of Object.entries(med))
    console.log(k.padEnd(26) + ms.toFixed(0).padStart(11) + '   ' + times[k].map((x) => x.toFixed(0)).join(' '));
  const summary: Record<string, unknown> = {};
  for (const s of shapes) {
    const fs = med[`${s.name} fsidmap`],
      fu = med[`${s.name} fuidshift`],
      ch = med[`${s.name} chown -hR`];
    const ph = Object.fromEntries(Object.entries(phases[s.name] ?? {}).map(([p, v]) => [p, median(v)]));
    const jb = journal[s.name] ? median(journal[s.name]) : null;
    console.log(
      `${s.name}: fsidmap / fuidshift ${fu ? (fs / fu).toFixed(3) : '-'}x (goal <= 0.2x), fsidmap / chown -hR ${(fs / ch).toFixed(2)}x (goal <= 2x); ` +
        `journal ${jb === null ? '?' : `${jb.toLocaleString('en-US')} bytes, ${(jb / ENTRIES).toFixed(0)} per entry`}; ` +
        `phases ${Object.entries(ph)
          .map(([p, v]) => `${p} ${v}`)
          .join(', ')}`,
    );
    summary[s.name] = {
      meanDepth: s.depth.meanDepth,
      maxDepth: s.depth.maxDepth,
      fsidmapOverFuidshift: fu ? fs / fu : null,
      fsidmapOverChown: fs / ch,
      journalBytes: jb,
      journalBytesPerEntry: jb === null ? null : jb / ENTRIES,
      phasesMedianMs: ph,
    };
  }
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(
    RESULTS,
    JSON.stringify(
      {
        machine: { cpus: cpus().length, loadAtEnd: loadavg()[0] },
        entries: ENTRIES,
        runs: RUNS,
        medianMs: med,
        samplesMs: times,
        shapes: summary,
      },
      null,
      2,
    ) + '\n',
  );
}

main();
