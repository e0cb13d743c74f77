// `fsidmap image shift` on a tree of 100,000 entries against Incus/LXD's
// fuidshift (goal: at least 5x faster) and `chown -hR` (the syscall floor,
// which moves no ACL or capability and reads no owner: aim within 4x), all in
// one run. Every command of every round gets a fresh copy of the same tree
// (cp -a, then sync, so no one pays for another's dirty pages), and the
// order of the commands rotates from round to round; medians of RUNS rounds.
// Where: by default a journaled ext4 made for the run in a loop-mounted image
// under os.tmpdir() (BENCH_TREE_FS=loop): the copies come and go there, and
// the host filesystem only sees one file. BENCH_TREE_FS=tmp runs in
// os.tmpdir() itself; on an ext4 without a journal (as / on the machine the
// figures in docs/image-tree.md come from) that is slow to make copies in
// after deleting others (ext4 skips recently deleted inodes, one by one).
// Also: fsidmap --no-sync, the C engine with one thread, the TypeScript
// engine (the fallback when the C engine is not built), where fsidmap's time
// goes (phasesMs of --json), and inspect. A real input too: a Debian bookworm
// minbase tree made by mmdebstrap (cached under os.tmpdir(); skipped when
// mmdebstrap or the mirror is unavailable), shifted by both tools, whose
// results must agree entry by entry. Prints a table, writes
// bench/results/tree.json. Root only.
import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, lchownSync, chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'src', 'cli', 'main.js');
const FS = process.env.BENCH_TREE_FS ?? 'loop';
const MOUNT = join(tmpdir(), `fsidmap-bench-tree-${process.pid}`);
const IMAGE = `${MOUNT}.img`;
const WORK = FS === 'loop' ? join(MOUNT, 'work') : join(tmpdir(), 'fsidmap-bench-tree');
const RESULTS = join(here, '..', '..', 'bench', 'results', 'tree.json');
const ENTRIES = Number(process.env.BENCH_TREE_ENTRIES ?? 100000);
const RUNS = Math.max(3, Number(process.env.BENCH_RUNS ?? 3));
const MAP = '0:100000:65536';

interface Timed {
  ms: number;
  stdout: string;
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): Timed {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    env: { ...process.env, FSIDMAP_STATE_DIR: join(WORK, 'state'), ...env },
  });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** ENTRIES entries: 100 files per directory, owners 0–1999, 1% hard links, 2% symlinks, some setuid files, ACLs and capabilities. */
function makeTree(root: string): void {
  const rand = rng(ENTRIES);
  mkdirSync(root, { recursive: true });
  let n = 1;
  const files: string[] = [];
  for (let d = 0; n < ENTRIES; d++) {
    const dir = join(root, `d${String(d).padStart(4, '0')}`);
    mkdirSync(dir);
    lchownSync(dir, Math.floor(rand() * 2000), Math.floor(rand() * 2000));
    n++;
    for (let f = 0; f < 100 && n < ENTRIES; f++, n++) {
      const p = join(dir, `f${f}`);
      const r = rand();
      if (r < 0.01 && files.length > 0) {
        linkSync(files[Math.floor(rand() * files.length)], p);
        continue;
      }
      if (r < 0.03) {
        symlinkSync('../x', p);
        lchownSync(p, Math.floor(rand() * 2000), 0);
        continue;
      }
      writeFileSync(p, '');
      lchownSync(p, Math.floor(rand() * 2000), Math.floor(rand() * 2000));
      if (r < 0.032) chmodSync(p, 0o4755);
      files.push(p);
    }
  }
  const acl = files.filter((_, i) => i % 1000 === 3);
  for (const f of acl) spawnSync('setfacl', ['-m', 'u:1000:rwx,g:50:rx', f]);
  for (const f of files.filter((_, i) => i % 5000 === 7)) spawnSync('setcap', ['cap_net_raw+ep', f]);
}

/** A Debian minbase rootfs, built once by mmdebstrap and kept as a tarball under tmpdir. */
function minbase(): string | null {
  const tarball = join(tmpdir(), 'fsidmap-bench-tree-minbase.tar');
  if (!existsSync(tarball)) {
    if (spawnSync('mmdebstrap', ['--version']).status !== 0) return null;
    const r = spawnSync('mmdebstrap', ['--variant=minbase', '--mode=root', '--quiet', 'bookworm', tarball], {
      stdio: 'ignore',
      timeout: 600_000,
    });
    if (r.status !== 0) {
      rmSync(tarball, { force: true });
      return null;
    }
  }
  const dir = join(WORK, 'minbase');
  mkdirSync(dir, { recursive: true });
  spawnSync('tar', ['-C', dir, '--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '-xpf', tarball]);
  return dir;
}

/** owner, group, mode of every entry (find -printf), for comparing two shifted trees. */
function listing(dir: string): string {
  const r = spawnSync('find', [dir, '-printf', '%P %U %G %m %n\\n'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return r.stdout.split('\n').sort().join('\n');
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Variant {
  readonly key: string;
  /** Forward (0 → 100000), or back when reverse. */
  run(dir: string, reverse: boolean): Timed;
}

const fsidmap =
  (extra: string[], env: Record<string, string> = {}) =>
  (dir: string, reverse: boolean) =>
    run('node', [CLI, 'image', 'shift', '--json', ...(reverse ? ['-r'] : []), ...extra, dir, MAP], env);

/** The filesystem the bench runs on: a fresh journaled ext4 in a loop-mounted image, or tmpdir. */
function setUpFilesystem(): string {
  if (FS !== 'loop')
    return `${tmpdir()} (${spawnSync('findmnt', ['-n', '-o', 'FSTYPE,OPTIONS', '-T', tmpdir()], { encoding: 'utf8' }).stdout.trim()})`;
  mkdirSync(MOUNT, { recursive: true });
  const must = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  };
  must('truncate', ['-s', '8G', IMAGE]);
  // Inode tables and journal written now, not by a kernel thread during the measurements.
  must('mkfs.ext4', ['-q', '-F', '-N', '600000', '-E', 'lazy_itable_init=0,lazy_journal_init=0', IMAGE]);
  must('mount', ['-o', 'loop', IMAGE, MOUNT]);
  return `ext4 with a journal, made for this run (loop-mounted ${IMAGE})`;
}

function tearDownFilesystem(): void {
  if (FS !== 'loop') {
    rmSync(WORK, { recursive: true, force: true });
    return;
  }
  spawnSync('umount', [MOUNT]);
  rmSync(IMAGE, { force: true });
  rmSync(MOUNT, { recursive: true, force: true });
}

function main(): void {
  if (process.getuid?.() !== 0) {
    console.log('tree bench: needs root (chown); skipped');
    return;
  }
  const haveFuid = spawnSync('fuidshift', ['--version']).status === 0;
  const where = setUpFilesystem();
  try {
    bench(haveFuid, where);
  } finally {
    tearDownFilesystem();
  }
}

function bench(haveFuid: boolean, where: string): void {
  rmSync(WORK, { recursive: true, force: true });
  const template = join(WORK, 'template');
  const t0 = performance.now();
  makeTree(template);
  spawnSync('sync');
  console.log(`on ${where}`);
  console.log(
    `tree of ${ENTRIES.toLocaleString('en-US')} entries made in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${RUNS} rounds, ${FS === 'loop' ? 'a fresh copy per command and round' : 'a copy per command, shifted forward and back in turn'}; load ${loadavg()[0].toFixed(2)}`,
  );

  const variants: Variant[] = [
    { key: 'fsidmap', run: fsidmap([]) },
    { key: 'fsidmap --no-sync', run: fsidmap(['--no-sync']) },
    { key: 'fsidmap, 1 thread', run: fsidmap([], { FSIDMAP_WORKERS: '1' }) },
    { key: 'fsidmap, TypeScript engine', run: fsidmap([], { FSIDMAP_TREE_ENGINE: 'node' }) },
    ...(haveFuid
      ? [
          {
            key: 'fuidshift',
            run: (dir: string, reverse: boolean) => run('fuidshift', [dir, ...(reverse ? ['-r'] : []), 'b:0:100000:65536']),
          },
        ]
      : []),
    { key: 'chown -hR', run: (dir: string, reverse: boolean) => run('chown', ['-hR', reverse ? '0:0' : '100000:100000', dir]) },
  ];
  // On the loop filesystem every run gets a fresh copy. In tmpdir (BENCH_TREE_FS=tmp) each
  // command gets one copy, shifted forward and back in turn: making copies there right after
  // deleting others is too slow on an ext4 without a journal (see the top of this file).
  const fresh = FS === 'loop';
  const copyOf = (i: number) => join(WORK, fresh ? 'copy' : `copy-${i}`);
  if (!fresh) {
    variants.forEach((_, i) => spawnSync('cp', ['-a', template, copyOf(i)]));
    spawnSync('sync');
  }
  const times: Record<string, number[]> = {};
  const phases: Record<string, number[]> = {};
  const add = (k: string, ms: number) => (times[k] ??= []).push(ms);
  for (let r = 0; r < RUNS; r++) {
    // Rotate the order so that no command always runs first (or after the same one).
    const order = variants.map((_, i) => (i + r) % variants.length);
    for (const i of order) {
      const v = variants[i];
      const dir = copyOf(i);
      if (fresh) spawnSync('cp', ['-a', template, dir]);
      spawnSync('sync');
      const t = v.run(dir, !fresh && r % 2 === 1);
      add(v.key, t.ms);
      if (v.key === 'fsidmap')
        for (const [p, ms] of Object.entries(JSON.parse(t.stdout).phasesMs as Record<string, number>)) (phases[p] ??= []).push(ms);
      if (fresh) rmSync(dir, { recursive: true, force: true });
    }
    add('inspect', run('node', [CLI, 'image', 'inspect', '--json', template]).ms);
  }
  // A real tree: Debian minbase, fsidmap and fuidshift on two copies, results compared.
  const real = minbase();
  let realAgree: boolean | null = null;
  if (real && haveFuid) {
    const copy = join(WORK, 'minbase-fuidshift');
    spawnSync('cp', ['-a', real, copy]);
    spawnSync('sync');
    for (let r = 0; r < RUNS; r++) {
      add('minbase fsidmap', run('node', [CLI, 'image', 'shift', real, MAP]).ms);
      add('minbase fuidshift', run('fuidshift', [copy, 'b:0:100000:65536']).ms);
      realAgree = listing(real).replaceAll(real, '') === listing(copy).replaceAll(copy, '');
      if (!realAgree) break;
      run('node', [CLI, 'image', 'shift', '-r', real, MAP]);
      run('fuidshift', [copy, '-r', 'b:0:100000:65536']);
    }
  }
  const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  const medPhases = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, median(v)]));
  const fs = med['fsidmap'],
    ns = med['fsidmap --no-sync'],
    fu = med['fuidshift'],
    ch = med['chown -hR'];
  console.log('\n' + 'command'.padEnd(30) + 'median ms'.padStart(11) + 'entries/s'.padStart(12) + '   rounds (ms)');
  for (const [k, ms] of Object.entries(med)) {
    console.log(
      k.padEnd(30) +
        ms.toFixed(0).padStart(11) +
        Math.round(ENTRIES / (ms / 1000))
          .toLocaleString('en-US')
          .padStart(12) +
        '   ' +
        times[k].map((x) => x.toFixed(0)).join(' '),
    );
  }
  console.log(
    `\nfsidmap phases (median ms, inside the process): ${Object.entries(medPhases)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  if (fu)
    console.log(`fuidshift / fsidmap: ${(fu / fs).toFixed(2)}x (goal >= 5x); with --no-sync (neither syncs then) ${(fu / ns).toFixed(2)}x`);
  console.log(`fsidmap / chown -hR: ${(fs / ch).toFixed(2)}x the floor (aim <= 4x); with --no-sync ${(ns / ch).toFixed(2)}x`);
  if (realAgree !== null)
    console.log(
      `Debian minbase: fsidmap and fuidshift results ${realAgree ? 'agree entry by entry' : 'DIFFER'}; fuidshift / fsidmap ${(med['minbase fuidshift'] / med['minbase fsidmap']).toFixed(2)}x`,
    );
  if (realAgree === false) process.exitCode = 1;
  const result = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), loadAtEnd: loadavg()[0] },
    filesystem: where,
    entries: ENTRIES,
    runs: RUNS,
    medianMs: med,
    samplesMs: times,
    fsidmapPhasesMedianMs: medPhases,
    minbaseAgree: realAgree,
    ratios: {
      fuidshiftOverFsidmap: fu ? fu / fs : null,
      fsidmapOverChown: fs / ch,
      fuidshiftOverNoSync: fu ? fu / ns : null,
      noSyncOverChown: ns / ch,
    },
  };
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, JSON.stringify(result, null, 2) + '\n');
}

main();
