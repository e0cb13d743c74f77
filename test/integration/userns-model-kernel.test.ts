/**
 * Differential test: the model against the real kernel (Linux 6.18 as
 * root). Generated cases (namespaces with id maps, idmapped mounts, DAC with
 * owners/groups/ACLs, capability overrides, chown/chmod/utimes rules,
 * EOVERFLOW on create, sticky deletes) run through test/native/userns-ops
 * and through the model in all three semantics: `off` (today's kernel), and
 * `v3`/`v2` with no fsid map written, where fsid maps equal the id maps
 * (mirrored in v3, fallen back to in v2). All must equal the kernel, op by
 * op, and the trees must end in the same on-disk state.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type FsidSemantics } from '../../src/userns/index.js';
import { type KCase, type TreeState, caseText, generateCases, runModel } from './userns-model-cases.js';

const STAGE = join(process.cwd(), 'dist/test/native/userns-ops');
const isRoot = process.getuid?.() === 0;
const skip = !isRoot
  ? 'needs root (user namespaces with arbitrary maps, chown, idmapped mounts)'
  : !existsSync(STAGE)
    ? 'dist/test/native/userns-ops not built (npm run build needs gcc)'
    : false;

const SEED = Number(process.env.FSIDMAP_MODEL_SEED ?? 20200218);
const CASES = Number(process.env.FSIDMAP_MODEL_CASES ?? 240);

function perm(bits: number): string {
  return (bits & 4 ? 'r' : '-') + (bits & 2 ? 'w' : '-') + (bits & 1 ? 'x' : '-');
}

function buildTree(dir: string, c: KCase): void {
  const t = join(dir, 't');
  mkdirSync(t);
  for (const e of c.entries) {
    const p = join(t, e.path);
    if (e.type === 'dir') mkdirSync(p);
    else writeFileSync(p, 'x');
  }
  // Deepest first, so a parent's mode never gets in the way (we are root anyway), then the ACLs.
  for (const e of [...c.entries].reverse()) {
    const p = join(t, e.path);
    chownSync(p, e.uid, e.gid);
    chmodSync(p, e.mode);
    if (e.acl) {
      const a = e.acl;
      const spec = [
        `u::${perm(e.mode >> 6)}`,
        `g::${perm(a.groupObj)}`,
        `o::${perm(e.mode)}`,
        `m::${perm(a.mask)}`,
        ...a.users.map(([id, b]) => `u:${id}:${perm(b)}`),
        ...a.groups.map(([id, b]) => `g:${id}:${perm(b)}`),
      ].join(',');
      const r = spawnSync('setfacl', ['--set', spec, p], { encoding: 'utf8' });
      assert.equal(r.status, 0, `setfacl ${spec} ${p}: ${r.stderr}`);
      // setfacl goes through chmod-like paths: put back setuid/setgid/sticky bits it may have dropped.
      chmodSync(p, e.mode);
    }
    assert.equal(lstatSync(p).mode & 0o7777, e.mode, `mode of ${e.path} after setup`);
  }
  chownSync(t, c.root.uid, c.root.gid);
  chmodSync(t, c.root.mode);
}

function readTree(root: string): TreeState {
  const out: TreeState = {};
  const walk = (p: string, rel: string) => {
    const st = lstatSync(p);
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
    out[rel || '.'] = `${type} ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`;
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(join(p, n), rel ? `${rel}/${n}` : n);
  };
  walk(root, '');
  return out;
}

function sorted(t: TreeState): TreeState {
  return Object.fromEntries(Object.entries(t).sort(([a], [b]) => a.localeCompare(b)));
}

test(`model equals the kernel: ${CASES} generated cases (seed ${SEED}), semantics off, v3 and v2`, { skip, timeout: 300_000 }, () => {
  const cases = generateCases(SEED, CASES);
  const work = mkdtempSync(join(tmpdir(), 'fsidt3-model-'));
  try {
    const dirs = cases.map((c, i) => {
      const d = join(work, `c${i}`);
      mkdirSync(d);
      buildTree(d, c);
      return d;
    });
    const input = cases.map((c, i) => caseText(c, join(dirs[i], 't'))).join('');
    const r = spawnSync(STAGE, [], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, `userns-ops failed: ${r.stderr}`);
    const lines = r.stdout.split('\n');
    let at = 0,
      compared = 0,
      treeChecks = 0;
    const mismatches: string[] = [];
    const kinds = new Map<string, number>();
    cases.forEach((c, i) => {
      const kernel = lines.slice(at, at + c.ops.length);
      at += c.ops.length;
      assert.equal(lines[at++], 'done', `case ${c.label}: stage output out of step`);
      const realTree = sorted(readTree(join(dirs[i], 't')));
      for (const sem of ['off', 'v3', 'v2'] as FsidSemantics[]) {
        const m = runModel(c, sem);
        c.ops.forEach((o, j) => {
          compared++;
          if (sem === 'off') kinds.set(`${o.op} ${kernel[j].split(' ')[0]}`, (kinds.get(`${o.op} ${kernel[j].split(' ')[0]}`) ?? 0) + 1);
          if (m.results[j] !== kernel[j]) {
            mismatches.push(
              `${c.label} [${sem}] op ${j} ${JSON.stringify(o)}: kernel ${kernel[j]}, model ${m.results[j]} (${m.reasons[j]})`,
            );
          }
        });
        treeChecks++;
        try {
          assert.deepEqual(sorted(m.tree), realTree);
        } catch {
          mismatches.push(
            `${c.label} [${sem}] final tree differs: kernel ${JSON.stringify(realTree)} model ${JSON.stringify(sorted(m.tree))}`,
          );
        }
      }
    });
    const summary = [...kinds.entries()]
      .sort()
      .map(([k, n]) => `${k}=${n}`)
      .join(' ');
    console.log(
      `# differential: ${cases.length} cases, ${compared} op comparisons (${compared / 3} kernel ops x 3 semantics), ${treeChecks} final-tree comparisons, ${mismatches.length} mismatches`,
    );
    console.log(`# kernel outcomes: ${summary}`);
    assert.deepEqual(mismatches.slice(0, 15), [], `${mismatches.length} mismatches; seed ${SEED}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
