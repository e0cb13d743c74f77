import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseMap } from '../../src/idmap/index.js';
import { type TreeEngineKind, type TreeScan, scanTree, shiftTree } from '../../src/tree/index.js';
import { pathListAt, pathListLength } from '../../src/tree/path-table.js';
import { diffSnapshots, expectedShift, makeFixture, snapshot } from './tree-fixture.js';

/**
 * The C engine (native/libfsidmap-tree.c) against the TypeScript one: both
 * read the same columns from the same tree, shift it to the same result, and
 * finish each other's interrupted shifts. Also what only the C engine
 * guards: a directory swapped for a symlink between two runs is refused,
 * never followed; and the fallback when the library is missing.
 */
const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (chown, mknod, security.capability, mount)';
const work = mkdtempSync(join(tmpdir(), 'fsidmap-i7engines-'));
const stateDir = join(work, 'state');
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const MAP = parseMap('0 1000 65536\n');
const ENGINES: TreeEngineKind[] = ['native', 'node'];
after(() => {
  for (const m of execFileSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' })
    .split('\n')
    .filter((m) => m.startsWith(work + '/'))
    .sort()
    .reverse()) {
    execFileSync('umount', ['-l', m]);
  }
  rmSync(work, { recursive: true, force: true });
});

/** A fixture with the awkward parts too: a directory of 3,000 entries (several getdents64 calls), an immutable file, a mount, a name that is not UTF-8, deep nesting. */
function awkwardTree(dir: string, seed: number): void {
  makeFixture(dir, { files: 1500, base: 0, seed, capRootIds: [0, 1000] });
  const big = join(dir, 'big');
  mkdirSync(big);
  for (let i = 0; i < 3000; i++) {
    const f = join(big, `entry-with-a-longish-name-${i}`);
    writeFileSync(f, '');
    lchownSync(f, i % 70, (i * 7) % 70);
  }
  let deep = dir;
  for (let i = 0; i < 60; i++) {
    deep = join(deep, `n${i}`);
    mkdirSync(deep);
    lchownSync(deep, i, i);
  }
  writeFileSync(Buffer.concat([Buffer.from(join(dir, 'caf')), Buffer.from([0xe9, 0xff])]), 'x');
}

/** Rows of a scan by path, as comparable values. */
function rowsByPath(s: TreeScan): Map<string, string> {
  const out = new Map<string, string>();
  const locked = new Set(s.locked);
  for (let i = 0; i < pathListLength(s.paths); i++) {
    const x = s.xattrs.get(i) ?? {};
    const hex = (v: Uint8Array | undefined) => (v ? Buffer.from(v).toString('hex') : null);
    out.set(
      pathListAt(s.paths, i),
      JSON.stringify([
        s.uid[i],
        s.gid[i],
        s.mode[i],
        s.nlink[i],
        s.ino[i],
        s.dev[i],
        hex(x.aclAccess),
        hex(x.aclDefault),
        hex(x.capability),
        locked.has(i),
      ]),
    );
  }
  return out;
}

test('engines: the C engine and the TypeScript one read the same rows from the same tree', { skip }, async () => {
  const dir = join(work, 'scan');
  awkwardTree(dir, 51);
  const locked = join(dir, 'big', 'entry-with-a-longish-name-7');
  execFileSync('chattr', ['+i', locked]);
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'fsidmap-i7engines', mnt]);
  try {
    const scans = await Promise.all(ENGINES.map((engine) => scanTree(dir, { engine })));
    const [c, ts] = scans.map(rowsByPath);
    assert.ok(c.size > 4500, `${c.size} rows`);
    assert.deepEqual([...c.keys()].sort(), [...ts.keys()].sort());
    for (const [path, row] of c) assert.equal(row, ts.get(path), `row of ${Buffer.from(path, 'latin1').toString('utf8') || '.'}`);
    assert.equal(scans[0].ino[0], lstatSync(dir).ino, 'row 0 is the root');
    for (const s of scans) {
      assert.deepEqual(s.skippedMounts, ['mnt']);
      assert.deepEqual(
        s.locked.map((i) => pathListAt(s.paths, i)),
        ['big/entry-with-a-longish-name-7'],
      );
    }
  } finally {
    execFileSync('umount', [mnt]);
    execFileSync('chattr', ['-i', locked]);
  }
});

test('engines: a tree shifted by one engine and shifted back by the other is exactly as before', { skip }, async () => {
  for (const [there, back] of [
    ['native', 'node'],
    ['node', 'native'],
  ] as const) {
    const dir = join(work, `roundtrip-${there}`);
    awkwardTree(dir, 52);
    rmSync(Buffer.concat([Buffer.from(join(dir, 'caf')), Buffer.from([0xe9, 0xff])])); // snapshot() reads names as UTF-8
    const before = snapshot(dir);
    const r1 = await shiftTree(dir, MAP, { stateDir, engine: there, workers: there === 'native' ? 3 : 2 });
    assert.equal(r1.engine.kind, there);
    assert.deepEqual(
      diffSnapshots(
        snapshot(dir),
        expectedShift(before, (id) => id + 1000),
      ),
      [],
      `shifted by ${there}`,
    );
    await shiftTree(dir, MAP, { stateDir, engine: back, reverse: true });
    assert.deepEqual(diffSnapshots(snapshot(dir), before), [], `shifted back by ${back}`);
  }
});

/** Runs a shift that stops once its plan is journaled and before its first change (as a kill at that point would). */
async function journaledOnly(dir: string, engine: TreeEngineKind): Promise<void> {
  const stop = new AbortController();
  await assert.rejects(
    shiftTree(dir, MAP, {
      stateDir,
      engine,
      signal: stop.signal,
      onProgress: (p) => {
        if (p.phase === 'scan') stop.abort();
      },
    }),
    { code: 'ERR_SHIFT_INTERRUPTED' },
  );
  assert.ok(
    readdirSync(join(stateDir, 'shift')).some((f) => f.endsWith('.journal')),
    'the journal is left for the next run',
  );
}

test('engines: a shift interrupted under one engine is finished by the other', { skip }, async () => {
  for (const [first, second] of [
    ['native', 'node'],
    ['node', 'native'],
  ] as const) {
    const dir = join(work, `handover-${first}`);
    makeFixture(dir, { files: 800, base: 0, seed: 53, capRootIds: [0, 1000] });
    const before = snapshot(dir);
    await journaledOnly(dir, first);
    assert.deepEqual(diffSnapshots(snapshot(dir), before), [], 'stopped before the first change');
    const r = await shiftTree(dir, MAP, { stateDir, engine: second });
    assert.equal(r.resumed, true);
    assert.deepEqual(
      diffSnapshots(
        snapshot(dir),
        expectedShift(before, (id) => id + 1000),
      ),
      [],
    );
  }
});

test(
  'engines: a directory swapped for a symlink between the runs is never followed; nothing outside or inside changes',
  { skip },
  async () => {
    for (const engine of ENGINES) {
      const dir = join(work, `swap-${engine}`);
      mkdirSync(join(dir, 'sub'), { recursive: true });
      for (let i = 0; i < 50; i++) {
        writeFileSync(join(dir, 'sub', `f${i}`), '');
        lchownSync(join(dir, 'sub', `f${i}`), 7, 7);
      }
      await journaledOnly(dir, engine);
      // Someone moves sub away and puts a symlink to a directory outside the tree in its place, with the same names.
      const outside = join(work, `outside-${engine}`);
      mkdirSync(outside);
      for (let i = 0; i < 50; i++) {
        writeFileSync(join(outside, `f${i}`), '');
        lchownSync(join(outside, `f${i}`), 7, 7);
      }
      renameSync(join(dir, 'sub'), join(dir, 'moved'));
      symlinkSync(outside, join(dir, 'sub'));
      const insideBefore = snapshot(dir),
        outsideBefore = snapshot(outside);
      // C engine: openat2(RESOLVE_NO_SYMLINKS) refuses the path (ERR_TREE_CHANGED); TypeScript engine:
      // the path reaches other inodes than the journal's (ERR_SHIFT_CONFLICT). Either way, nothing is written.
      await assert.rejects(shiftTree(dir, MAP, { stateDir, engine }), (e: { code: string }) =>
        ['ERR_TREE_CHANGED', 'ERR_SHIFT_CONFLICT'].includes(e.code),
      );
      assert.deepEqual(diffSnapshots(snapshot(outside), outsideBefore), [], `${engine}: nothing outside the tree changed`);
      assert.deepEqual(diffSnapshots(snapshot(dir), insideBefore), [], `${engine}: nothing inside changed either`);
      rmSync(join(stateDir, 'shift'), { recursive: true, force: true });
    }
  },
);

test('engines: an entry deleted between the runs is reported (ERR_TREE_CHANGED) and nothing changes', { skip }, async () => {
  for (const engine of ENGINES) {
    const dir = join(work, `deleted-${engine}`);
    makeFixture(dir, { files: 300, base: 0, seed: 54 });
    await journaledOnly(dir, engine);
    const victim = [...snapshot(dir)].find(([, s]) => s.type === 'file' && s.nlink === 1)?.[0] as string;
    rmSync(join(dir, victim));
    const beforeRun = snapshot(dir);
    await assert.rejects(
      shiftTree(dir, MAP, { stateDir, engine }),
      (e: { code: string; message: string }) => e.code === 'ERR_TREE_CHANGED' && e.message.includes(victim),
    );
    assert.deepEqual(diffSnapshots(snapshot(dir), beforeRun), []);
    rmSync(join(stateDir, 'shift'), { recursive: true, force: true });
  }
});

test(
  'engines: without the C library the TypeScript engine is used; asking for the C one then fails with ERR_TREE_ENGINE_MISSING',
  { skip },
  () => {
    const dir = join(work, 'fallback');
    makeFixture(dir, { files: 60, base: 0, seed: 55 });
    chmodSync(dir, 0o755);
    const env = { ...process.env, FSIDMAP_STATE_DIR: stateDir, FSIDMAP_TREE_ENGINE_LIB: join(work, 'no-such-lib.so') };
    const fallback = spawnSync(process.execPath, [CLI, 'image', 'shift', '--json', dir, '0:1000:65536'], { env, encoding: 'utf8' });
    assert.equal(fallback.status, 0, fallback.stderr);
    assert.equal(JSON.parse(fallback.stdout).engine.kind, 'node');
    const explicit = spawnSync(process.execPath, [CLI, 'image', 'shift', '--json', '-r', dir, '0:1000:65536'], {
      env: { ...env, FSIDMAP_TREE_ENGINE: 'native' },
      encoding: 'utf8',
    });
    assert.equal(explicit.status, 1);
    assert.equal(JSON.parse(explicit.stderr).error.code, 'ERR_TREE_ENGINE_MISSING');
    const built = spawnSync(process.execPath, [CLI, 'image', 'shift', '--json', '-r', dir, '0:1000:65536'], {
      env: { ...process.env, FSIDMAP_STATE_DIR: stateDir },
      encoding: 'utf8',
    });
    assert.equal(built.status, 0, built.stderr);
    assert.equal(JSON.parse(built.stdout).engine.kind, 'native', 'npm run build built the C engine');
  },
);

test("engines: the C engine's fallbacks for older kernels (no openat2, *xattrat, fchmodat2) read and shift the same", { skip }, () => {
  const dir = join(work, 'compat');
  makeFixture(dir, { files: 600, base: 0, seed: 56, capRootIds: [0, 1000] });
  const before = snapshot(dir);
  const cli = (compat: boolean, ...args: string[]) => {
    const env = {
      ...process.env,
      FSIDMAP_STATE_DIR: stateDir,
      FSIDMAP_TREE_ENGINE: 'native',
      ...(compat ? { FSIDMAP_TREE_ENGINE_COMPAT: 'old-kernel' } : {}),
    };
    const r = spawnSync(process.execPath, [CLI, 'image', ...args], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  assert.equal(cli(true, 'inspect', '--json', dir), cli(false, 'inspect', '--json', dir), 'inspect reads the same');
  cli(true, 'shift', dir, '0:1000:65536');
  assert.deepEqual(
    diffSnapshots(
      snapshot(dir),
      expectedShift(before, (id) => id + 1000),
    ),
    [],
  );
  cli(true, 'shift', '-r', dir, '0:1000:65536');
  assert.deepEqual(diffSnapshots(snapshot(dir), before), []);
});

// ---- The tree changing between plan and apply (within one run) ----

const CHILD = fileURLToPath(new URL('./tree-change-child.js', import.meta.url));
const SWAPPER = fileURLToPath(new URL('../native/broker-swap', import.meta.url));
/** Owner of the directories on the way: outside MAP and kept, so their rows are not planned and only the files below are written. */
const KEPT = 70000;

/** Runs tree-change-child.ts (its own process, so the C engine loads with this compat setting); its JSON outcome. */
function changeDuringShift(job: Record<string, unknown>, compat: string): { ok: boolean; acted: boolean; code?: string; message?: string } {
  const env = { ...process.env, FSIDMAP_TREE_ENGINE_COMPAT: compat };
  const r = spawnSync(process.execPath, [CHILD, JSON.stringify({ stateDir, ...job })], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string);
}

/** DIR/a/b/f0..f(n-1), owned 7:7 with an ACL naming user 7; the same names under OUTSIDE/b, owned 7:7 without ACLs. */
function nestedTree(dir: string, outside: string, n: number): void {
  for (const [top, acl] of [
    [join(dir, 'a'), true],
    [outside, false],
  ] as const) {
    mkdirSync(join(top, 'b'), { recursive: true });
    const files = Array.from({ length: n }, (_, i) => join(top, 'b', `f${i}`));
    for (const f of files) {
      writeFileSync(f, '');
      lchownSync(f, 7, 7);
    }
    if (acl) execFileSync('setfacl', ['-m', 'u:7:rw', ...files]);
    lchownSync(top, KEPT, KEPT);
    lchownSync(join(top, 'b'), KEPT, KEPT);
  }
  lchownSync(dir, KEPT, KEPT);
}

/** The variants of each change: the C engine as on this kernel and with its fallbacks for older ones, and the TypeScript engine. */
const VARIANTS: Array<{ engine: TreeEngineKind; compat: string }> = [
  { engine: 'native', compat: '' },
  { engine: 'native', compat: 'no-openat2' },
  { engine: 'native', compat: 'no-xattrat' },
  { engine: 'native', compat: 'old-kernel' },
  { engine: 'node', compat: '' },
];

test(
  'engines: a directory two levels up swapped for a symlink once the plan is made is never followed: ERR_TREE_CHANGED, nothing outside changes',
  { skip },
  () => {
    for (const [k, v] of VARIANTS.entries()) {
      const dir = join(work, `swap-apply-${k}`),
        outside = join(work, `swap-apply-outside-${k}`);
      nestedTree(dir, outside, 300);
      const outsideBefore = snapshot(outside);
      const r = changeDuringShift({ dir, engine: v.engine, action: 'swap', outside }, v.compat);
      assert.equal(r.acted, true);
      assert.equal(r.code, 'ERR_TREE_CHANGED', `${v.engine} ${v.compat}: ${r.message}`);
      assert.deepEqual(diffSnapshots(snapshot(outside), outsideBefore), [], `${v.engine} ${v.compat}: nothing outside the tree changed`);
      rmSync(join(stateDir, 'shift'), { recursive: true, force: true });
    }
  },
);

test(
  'engines: a directory flipping with a symlink (RENAME_EXCHANGE) while ACLs are written never lets a write out of the tree',
  { skip },
  () => {
    for (const [k, v] of VARIANTS.entries()) {
      const dir = join(work, `race-${k}`),
        outside = join(work, `race-outside-${k}`);
      nestedTree(dir, outside, 1000);
      symlinkSync(outside, join(dir, 'alink'));
      const outsideBefore = snapshot(outside);
      const r = changeDuringShift({ dir, engine: v.engine, action: 'race', swapper: SWAPPER }, v.compat);
      assert.equal(r.acted, true);
      // Done while the name pointed at the directory, or refused when it did not: never written through the symlink.
      assert.ok(r.ok || r.code === 'ERR_TREE_CHANGED', `${v.engine} ${v.compat}: ${r.code} ${r.message}`);
      assert.deepEqual(diffSnapshots(snapshot(outside), outsideBefore), [], `${v.engine} ${v.compat}: nothing outside the tree changed`);
      assert.ok(lstatSync(join(dir, 'a')).isDirectory(), 'the swapper made an even number of exchanges');
      rmSync(join(stateDir, 'shift'), { recursive: true, force: true });
    }
  },
);

test(
  'engines: a planned directory that becomes a mount point before apply is not touched: ERR_TREE_CHANGED, the mounted root keeps its owner',
  { skip },
  () => {
    for (const [k, v] of VARIANTS.entries()) {
      const dir = join(work, `mountpoint-${k}`),
        m = join(dir, 'd', 'm');
      mkdirSync(m, { recursive: true });
      for (let i = 0; i < 20; i++) {
        writeFileSync(join(m, `f${i}`), '');
        lchownSync(join(m, `f${i}`), 5, 5);
      }
      for (const p of [dir, join(dir, 'd'), m]) lchownSync(p, 5, 5);
      try {
        const r = changeDuringShift({ dir, engine: v.engine, action: 'mount', mountAt: m }, v.compat);
        assert.equal(r.acted, true);
        assert.equal(r.code, 'ERR_TREE_CHANGED', `${v.engine} ${v.compat}: ${r.message}`);
        const top = lstatSync(m);
        assert.deepEqual([top.uid, top.gid, readdirSync(m).length], [0, 0, 0], `${v.engine} ${v.compat}: the tmpfs root is untouched`);
      } finally {
        execFileSync('umount', [m]);
      }
      rmSync(join(stateDir, 'shift'), { recursive: true, force: true });
    }
  },
);
