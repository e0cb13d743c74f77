/**
 * `fsidmap explain` over a generated 100,000-entry tree: seconds and
 * entries per second, for the library (walk + lstat + ACL xattr + model)
 * and for the CLI end to end (--json to /dev/null), next to peers that walk
 * the same tree in the same run: GNU find printing owners and modes (lstat
 * only), and getfacl -R (lstat + ACL xattrs).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMap } from '../src/idmap/index.js';
import { Explainer } from '../src/vfs/explain.js';
import { readTree } from '../src/vfs-host/tree-reader.js';

const ENTRIES = Number(process.env.FSIDMAP_BENCH_ENTRIES ?? 100_000);
const DIRS = Math.round(ENTRIES / 100);
const isRoot = process.getuid?.() === 0;

function makeTree(root: string): number {
  let n = 1;
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 4294967296;
  };
  const aclTargets: string[] = [];
  for (let d = 0; d < DIRS && n < ENTRIES; d++) {
    const dir = join(root, `d${d}`);
    mkdirSync(dir);
    n++;
    for (let f = 0; f < 99 && n < ENTRIES; f++, n++) {
      const p = join(dir, `f${f}`);
      closeSync(openSync(p, 'w'));
      if (isRoot) chownSync(p, rand() < 0.9 ? 300000 + Math.floor(rand() * 2000) : 0, 300000);
      chmodSync(p, [0o644, 0o600, 0o755, 0o640, 0o4755][Math.floor(rand() * 5)]);
      if (rand() < 0.005) aclTargets.push(p);
    }
    if (isRoot) chownSync(dir, 300000, 300000);
  }
  for (let i = 0; i < aclTargets.length; i += 500) {
    spawnSync('setfacl', ['-m', 'u:300005:rw-', ...aclTargets.slice(i, i + 500)]);
  }
  return n;
}

function time<T>(fn: () => T): { seconds: number; value: T } {
  const t0 = process.hrtime.bigint();
  const value = fn();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, value };
}

function best<T>(runs: number, fn: () => T): { seconds: number; value: T } {
  let b: { seconds: number; value: T } | undefined;
  for (let i = 0; i < runs; i++) {
    const r = time(fn);
    if (!b || r.seconds < b.seconds) b = r;
  }
  return b!;
}

const work = mkdtempSync(join(tmpdir(), 'fsidt3-bench-'));
try {
  const root = join(work, 'tree');
  mkdirSync(root);
  const made = time(() => makeTree(root));
  const maps = {
    uidmap: parseMap('0 100000 65536'),
    gidmap: parseMap('0 100000 65536'),
    fsuidmap: parseMap('0 300000 65536'),
    fsgidmap: parseMap('0 300000 65536'),
  };
  const lib = best(3, () => {
    const x = new Explainer(maps);
    let n = 0,
      writable = 0;
    for (const e of readTree(root)) {
      const r = x.explain(e);
      n++;
      if (r.write.ok) writable++;
    }
    return { n, writable };
  });
  const walkOnly = best(3, () => {
    let n = 0;
    for (const _ of readTree(root)) n++;
    return n;
  });
  const cli = best(3, () => {
    const r = spawnSync(
      process.execPath,
      [
        join(process.cwd(), 'dist/src/cli/main.js'),
        'explain',
        '--uidmap',
        '0:100000:65536',
        '--gidmap',
        '0:100000:65536',
        '--fsuidmap',
        '0:300000:65536',
        '--fsgidmap',
        '0:300000:65536',
        '--json',
        root,
      ],
      { stdio: ['ignore', openSync('/dev/null', 'w'), 'inherit'] },
    );
    if (r.status !== 0) throw new Error('explain failed');
    return 0;
  });
  const peer = (cmd: string, args: string[]) => best(3, () => execFileSync(cmd, args, { maxBuffer: 1 << 30 }).length);
  const find = peer('find', [root, '-printf', '%U:%G %m %p\n']);
  const getfacl = peer('getfacl', ['-R', '-p', '-n', root]);

  const n = lib.value.n;
  const rows = [
    ['fsidmap explain (library: walk, lstat, ACL, model)', lib.seconds],
    ['fsidmap explain --json (CLI, end to end)', cli.seconds],
    ['tree walk alone (lstat + ACL xattr, no model)', walkOnly.seconds],
    ['find -printf owners/modes (peer, lstat only)', find.seconds],
    ['getfacl -R (peer, lstat + ACL xattrs)', getfacl.seconds],
  ] as const;
  console.log(
    `explain benchmark: ${n} entries (${DIRS} directories), made in ${made.seconds.toFixed(1)} s${isRoot ? '' : ' (not root: owners not varied)'}; best of 3`,
  );
  console.log(`${'what'.padEnd(54)} ${'seconds'.padStart(8)} ${'entries/s'.padStart(11)} ${'vs find'.padStart(8)}`);
  for (const [what, s] of rows)
    console.log(
      `${what.padEnd(54)} ${s.toFixed(3).padStart(8)} ${Math.round(n / s)
        .toString()
        .padStart(11)} ${(s / find.seconds).toFixed(2).padStart(7)}x`,
    );
  console.log(`(${lib.value.writable} of ${n} entries writable by container root)`);
  mkdirSync(join(process.cwd(), 'bench/results'), { recursive: true });
  writeFileSync(
    join(process.cwd(), 'bench/results/explain.json'),
    JSON.stringify(
      {
        entries: n,
        directories: DIRS,
        root: isRoot,
        node: process.version,
        results: Object.fromEntries(rows.map(([what, s]) => [what, { seconds: s, entriesPerSecond: n / s, vsFind: s / find.seconds }])),
      },
      null,
      2,
    ) + '\n',
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
