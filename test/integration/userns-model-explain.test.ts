/**
 * `fsidmap explain` against the real kernel: a generated tree (owners,
 * modes, ACLs) is explained for a container with given id maps and user,
 * then the same user in a real user namespace with those maps asks the
 * kernel (faccessat with AT_EACCESS for read and write, lchown for chown,
 * on a copy of the tree). Every verdict must match. Only id maps: today's
 * kernel has no fsid maps.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseMap } from '../../src/idmap/index.js';
import { Explainer } from '../../src/vfs/explain.js';
import { readTree } from '../../src/vfs-host/tree-reader.js';
import { rng } from './userns-model-cases.js';

const STAGE = join(process.cwd(), 'dist/test/native/userns-ops');
const skip =
  process.getuid?.() !== 0 ? 'needs root (chown, user namespaces)' : !existsSync(STAGE) ? 'dist/test/native/userns-ops not built' : false;

const CONFIGS = [
  { map: '0:100000:65536', as: [0, 0] },
  { map: '0:100000:65536', as: [5, 5] },
  { map: '0:100000:65536', as: [1000, 1000] },
  { map: '0:300000:65536', as: [0, 0] },
  { map: '0:300000:65536', as: [7, 9] },
  { map: '0:100000:1000,1000:1000:1', as: [1000, 1000] },
] as const;

function buildTree(root: string, seed: number): void {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)];
  const owners = [0, 1000, 100000, 100005, 101000, 300000, 300005, 300007, 300009, 65534];
  const dirModes = [0o755, 0o700, 0o711, 0o775, 0o1777, 0o2770, 0o750, 0o777];
  const fileModes = [0o644, 0o600, 0o640, 0o660, 0o666, 0o604, 0o755, 0o000, 0o4755, 0o060];
  const dirs = [''];
  const made: Array<[string, boolean]> = [];
  for (let i = 0; i < 60; i++) {
    const parent = pick(dirs);
    const isDir = r() < 0.3;
    const rel = (parent ? parent + '/' : '') + (isDir ? `d${i}` : `f${i}`);
    if (isDir) {
      mkdirSync(join(root, rel));
      dirs.push(rel);
    } else writeFileSync(join(root, rel), 'x');
    made.push([rel, isDir]);
  }
  symlinkSync('f0', join(root, 'link'));
  for (const [rel, isDir] of made.reverse()) {
    const p = join(root, rel);
    chownSync(p, pick(owners), pick(owners));
    chmodSync(p, isDir ? pick(dirModes) : pick(fileModes));
    if (r() < 0.2) {
      const res = spawnSync('setfacl', ['-m', `u:${pick(owners)}:${pick(['rw-', 'r--', 'rwx'])},g:${pick(owners)}:r-x`, p]);
      assert.equal(res.status, 0, String(res.stderr));
    }
  }
  chownSync(root, 100000, 100000);
  chmodSync(root, 0o755);
}

function stage(input: string): string[] {
  const r = spawnSync(STAGE, [], { input, encoding: 'utf8', maxBuffer: 16 << 20 });
  assert.equal(r.status, 0, `userns-ops: ${r.stderr}`);
  return r.stdout.split('\n');
}

test('explain equals the kernel: read, write and chown verdicts for generated trees and containers', { skip, timeout: 120_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'fsidt3-explain-'));
  let compared = 0,
    granted = 0;
  const mismatches: string[] = [];
  try {
    CONFIGS.forEach((cfg, n) => {
      const tree = join(work, `t${n}`),
        copy = join(work, `c${n}`);
      mkdirSync(tree);
      buildTree(tree, 1000 + n);
      assert.equal(spawnSync('cp', ['-a', tree, copy]).status, 0);
      const map = parseMap(cfg.map);
      const x = new Explainer({ uidmap: map, gidmap: map, as: { uid: cfg.as[0], gid: cfg.as[1] }, semantics: 'off' });
      const rows = [...readTree(tree)].map((e) => ({ e, row: x.explain(e) }));
      const spec = cfg.map;
      const head = (root: string) => `case ${root} ${spec} ${spec} - - ${cfg.as[0]} ${cfg.as[1]} - -1 -1 default 1\n`;

      // read/write: faccessat(AT_EACCESS) is inode_permission after the same path walk.
      const checks = rows
        .filter(({ e }) => e.type !== 'symlink')
        .flatMap(({ e, row }) => [
          { path: e.path, what: 'read', op: `op access ${e.path} r`, want: row.read.ok },
          { path: e.path, what: 'write', op: `op access ${e.path} ${e.type === 'dir' ? 'wx' : 'w'}`, want: row.write.ok },
        ]);
      const out = stage(head(tree) + checks.map((c) => c.op).join('\n') + '\nend\n');
      checks.forEach((c, i) => {
        compared++;
        if (out[i] === 'ok') granted++;
        if ((out[i] === 'ok') !== c.want)
          mismatches.push(
            `${cfg.map} as ${cfg.as}: ${c.what} ${c.path}: kernel ${out[i]}, explain ${c.want} (${rows.find((r) => r.e.path === c.path)!.row[c.what as 'read'].why})`,
          );
      });

      // chown to the id explain names, children before parents, on a copy.
      const chowns = rows
        .map(({ e, row }) => {
          const target = [0, 1, 2].find((id) => map.mapIdDown(id) !== undefined && map.mapIdDown(id) !== e.uid);
          return {
            path: e.path,
            depth: e.depth,
            op: `op chown ${e.path} ${target ?? -1} -1`,
            want: row.chown.ok,
            why: row.chown.why,
            target,
          };
        })
        .filter((c) => c.target !== undefined)
        .sort((a, b) => b.depth - a.depth);
      const out2 = stage(head(copy) + chowns.map((c) => c.op).join('\n') + '\nend\n');
      chowns.forEach((c, i) => {
        compared++;
        if (out2[i] === 'ok') granted++;
        if ((out2[i] === 'ok') !== c.want)
          mismatches.push(`${cfg.map} as ${cfg.as}: chown ${c.path}: kernel ${out2[i]}, explain ${c.want} (${c.why})`);
      });
      assert.ok(lstatSync(copy).isDirectory());
    });
    console.log(
      `# explain vs kernel: ${CONFIGS.length} containers, ${compared} verdicts compared (${granted} granted by the kernel), ${mismatches.length} mismatches`,
    );
    assert.deepEqual(mismatches.slice(0, 10), []);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
