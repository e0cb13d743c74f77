// `fsidmap image shift` and `image inspect` on a tree of 100,000 entries,
// against Incus/LXD's fuidshift (goal: at least 5x faster) and against
// `chown -hR` (the syscall floor, which moves no ACL or capability: aim
// within 4x), all in one run on the same tree. Each shift runs forward
// (0 -> 100000) and back, so the tree is the same for every tool and round.
// Also: fsidmap with 0, 1, 2 and 4 worker threads (what parallel calls buy on
// this filesystem), and inspect throughput. A real input too: a Debian
// bookworm minbase tree made by mmdebstrap (cached under os.tmpdir(); skipped
// when mmdebstrap or the mirror is unavailable), shifted by both tools, whose
// results must agree entry by entry. Prints a table, writes
// bench/results/tree.json. Root only.
import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, lchownSync, chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'src', 'cli', 'main.js');
const WORK = join(tmpdir(), 'fsidmap-bench-tree');
const RESULTS = join(here, '..', '..', 'bench', 'results', 'tree.json');
const ENTRIES = Number(process.env.BENCH_TREE_ENTRIES ?? 100000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

function run(cmd: string, args: string[], env: Record<string, string> = {}): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', env: { ...process.env, FSIDMAP_STATE_DIR: join(WORK, 'state'), ...env } });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return ms;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
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
      if (r < 0.01 && files.length > 0) { linkSync(files[Math.floor(rand() * files.length)], p); continue; }
      if (r < 0.03) { symlinkSync('../x', p); lchownSync(p, Math.floor(rand() * 2000), 0); continue; }
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
    const r = spawnSync('mmdebstrap', ['--variant=minbase', '--mode=root', '--quiet', 'bookworm', tarball], { stdio: 'ignore', timeout: 600_000 });
    if (r.status !== 0) { rmSync(tarball, { force: true }); return null; }
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

function main(): void {
  if (process.getuid?.() !== 0) { console.log('tree bench: needs root (chown); skipped'); return; }
  const haveFuid = spawnSync('fuidshift', ['--version']).status === 0;
  rmSync(WORK, { recursive: true, force: true });
  const tree = join(WORK, 'tree'), floor = join(WORK, 'floor');
  const t0 = performance.now();
  makeTree(tree);
  spawnSync('cp', ['-a', tree, floor]);
  spawnSync('sync'); // what making the trees left dirty is not charged to the first tool measured
  console.log(`tree of ${ENTRIES.toLocaleString('en-US')} entries made in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${RUNS} rounds; load ${loadavg()[0].toFixed(2)}`);

  const times: Record<string, number[]> = {};
  const add = (k: string, ms: number) => (times[k] ??= []).push(ms);
  for (let r = 0; r < RUNS; r++) {
    add('fsidmap', run('node', [CLI, 'image', 'shift', tree, '0:100000:65536']));
    add('fsidmap -r', run('node', [CLI, 'image', 'shift', '-r', tree, '0:100000:65536']));
    add('fsidmap --no-sync', run('node', [CLI, 'image', 'shift', '--no-sync', tree, '0:100000:65536']));
    add('fsidmap --no-sync -r', run('node', [CLI, 'image', 'shift', '--no-sync', '-r', tree, '0:100000:65536']));
    if (haveFuid) {
      add('fuidshift', run('fuidshift', [tree, 'b:0:100000:65536']));
      add('fuidshift -r', run('fuidshift', [tree, '-r', 'b:0:100000:65536']));
    }
    add('chown -hR', run('chown', ['-hR', '100000:100000', floor]));
    add('chown -hR back', run('chown', ['-hR', '0:0', floor]));
    add('inspect', run('node', [CLI, 'image', 'inspect', '--json', tree]));
    for (const w of [0, 1, 2, 4]) {
      add(`--no-sync workers=${w}`, run('node', [CLI, 'image', 'shift', '--no-sync', tree, '0:100000:65536'], { FSIDMAP_WORKERS: String(w) }));
      run('node', [CLI, 'image', 'shift', '--no-sync', '-r', tree, '0:100000:65536'], { FSIDMAP_WORKERS: String(w) });
    }
  }
  // A real tree: Debian minbase, fsidmap and fuidshift on two copies, results compared.
  const real = minbase();
  let realAgree: boolean | null = null;
  if (real && haveFuid) {
    const copy = join(WORK, 'minbase-fuidshift');
    spawnSync('cp', ['-a', real, copy]);
    spawnSync('sync');
    for (let r = 0; r < RUNS; r++) {
      add('minbase fsidmap', run('node', [CLI, 'image', 'shift', real, '0:100000:65536']));
      add('minbase fuidshift', run('fuidshift', [copy, 'b:0:100000:65536']));
      realAgree = listing(real).replaceAll(real, '') === listing(copy).replaceAll(copy, '');
      if (!realAgree) break;
      run('node', [CLI, 'image', 'shift', '-r', real, '0:100000:65536']);
      run('fuidshift', [copy, '-r', 'b:0:100000:65536']);
    }
  }
  const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  const fs = med['fsidmap'], fu = med['fuidshift'], ch = med['chown -hR'];
  const rows: Array<[string, number]> = Object.entries(med);
  console.log('\n' + 'command'.padEnd(22) + 'median ms'.padStart(11) + 'entries/s'.padStart(12));
  for (const [k, ms] of rows) console.log(k.padEnd(22) + ms.toFixed(0).padStart(11) + Math.round(ENTRIES / (ms / 1000)).toLocaleString('en-US').padStart(12));
  console.log('');
  const ns = med['fsidmap --no-sync'];
  if (fu) console.log(`fsidmap vs fuidshift: ${(fu / fs).toFixed(2)}x faster; with --no-sync (neither syncs then) ${(fu / ns).toFixed(2)}x (goal >= 5x)`);
  console.log(`fsidmap vs chown -hR: ${(fs / ch).toFixed(2)}x the floor; with --no-sync ${(ns / ch).toFixed(2)}x (aim <= 4x)`);
  if (realAgree !== null) console.log(`Debian minbase: fsidmap and fuidshift results ${realAgree ? 'agree entry by entry' : 'DIFFER'}; fsidmap ${(med['minbase fuidshift'] / med['minbase fsidmap']).toFixed(2)}x faster`);
  if (realAgree === false) process.exitCode = 1;
  const result = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), load: loadavg()[0] },
    entries: ENTRIES, runs: RUNS, medianMs: med, samplesMs: times, minbaseAgree: realAgree,
    ratios: { fuidshiftOverFsidmap: fu ? fu / fs : null, fsidmapOverChown: fs / ch, fuidshiftOverNoSync: fu ? fu / ns : null, noSyncOverChown: ns / ch },
  };
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, JSON.stringify(result, null, 2) + '\n');
  rmSync(WORK, { recursive: true, force: true });
  if (!existsSync(RESULTS)) process.exitCode = 1;
}

main();
