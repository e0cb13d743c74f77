// The model predicts the kernel: each shipped scenario that fsidmap run can
// realize goes through `fsidmap simulate --json` and through real containers,
// and the two must give the same result (and the same observable values) at
// every step the kernel can take.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseScenario, type Scenario } from '../../src/scenario/index.js';
import { realizeOnKernel, shippedScenarios } from './support/scenario-kernel.js';
import { cliPath, marker, mountsUnder, processesWith, repoRoot, rootSkip, tempDir } from './support/run-fixtures.js';

const REALIZABLE_OPS = new Set([
  'stat',
  'open',
  'create',
  'mkdir',
  'chown',
  'chmod',
  'utimes',
  'unlink',
  'rmdir',
  'disk',
  'kill',
  'ids',
  'ptrace',
]);

/** Why fsidmap run cannot realize the scenario, or null. */
function unrealizable(s: Scenario): string | null {
  for (const n of s.namespaces) {
    if (n.creator !== 'host') return `namespace ${n.name} is made by ${n.creator}, not host root`;
    if (Object.values(n.maps).some((m) => m && m.writer !== 'host') || (n.setgroups && n.setgroups.writer !== 'host'))
      return `namespace ${n.name}'s maps are written by another process`;
    if (!n.maps.uid || !n.maps.gid) return `namespace ${n.name} has no id maps`;
  }
  const bad = s.steps.find((st) => !REALIZABLE_OPS.has(st.op));
  if (bad) return `step "${bad.op}" changes what a container cannot change from inside`;
  if (s.processes.some((p) => p.from || p.caps || p.fsuid !== undefined || p.fsgid !== undefined))
    return 'a process with hand-set capabilities or fs ids';
  if (s.tree.some((e) => e.acl)) return 'ACLs';
  return null;
}

interface ModelStep {
  index: number;
  op: string;
  result: string;
  value: Record<string, unknown> | null;
  compare: boolean;
}

describe('model and kernel agree (fsidmap simulate vs fsidmap run)', { skip: rootSkip }, () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir('model');
    process.env.FSIDMAP_RUN_DIR = join(tmp.dir, 'run');
  });
  after(() => {
    assert.deepEqual(mountsUnder(tmp.dir), []);
    tmp.remove();
  });

  const files = shippedScenarios().map((f) => ({ f, s: parseScenario(readFileSync(join(repoRoot, 'scenarios', f), 'utf8'), f) }));
  const realizable = files.filter(({ s }) => unrealizable(s) === null);
  it("realizes the seed's scenarios at least (with and without fsid maps, idmapped, shared image and storage)", (t) => {
    const names = realizable.map(({ s }) => s.name);
    for (const { s } of files) if (!names.includes(s.name)) t.diagnostic(`not realized with fsidmap run: ${s.name} (${unrealizable(s)})`);
    for (const n of ['seed-with-fsid-maps', 'seed-without-fsid-maps', 'seed-idmapped-mount', 'shared-image', 'shared-storage'])
      assert.ok(names.includes(n), `${n} is realizable (${names.join(', ')})`);
  });

  for (const { f, s } of realizable) {
    it(`${s.name}: the kernel does what the model predicts`, async (t) => {
      const sim = spawnSync(process.execPath, [cliPath, 'simulate', '--json', join(repoRoot, 'scenarios', f)], { encoding: 'utf8' });
      assert.ok(sim.stdout.trim() !== '', sim.stderr);
      const model = JSON.parse(sim.stdout.trim().split('\n')[0]) as { steps: ModelStep[] };
      const tag = marker('model');
      const dir = join(tmp.dir, s.name);
      mkdirSync(dir);
      const kernel = await realizeOnKernel(s, dir, tag);
      let compared = 0;
      const differences: string[] = [];
      for (const k of kernel) {
        if (!k) continue;
        const m = model.steps[k.index - 1];
        if (!m.compare) continue;
        compared++;
        if (m.result !== k.result) {
          differences.push(`step ${k.index} (${m.op}): model ${m.result}, kernel ${k.result}`);
          continue;
        }
        for (const [field, value] of Object.entries(k.value ?? {})) {
          if (!m.value || !(field in m.value)) continue;
          if (JSON.stringify(m.value[field]) !== JSON.stringify(value))
            differences.push(
              `step ${k.index} (${m.op}) ${field}: model ${JSON.stringify(m.value[field])}, kernel ${JSON.stringify(value)}`,
            );
        }
      }
      t.diagnostic(`${s.name}: ${compared} of ${s.steps.length} steps compared on the kernel`);
      assert.deepEqual(differences, []);
      assert.ok(compared >= Math.min(5, s.steps.length), 'most of the scenario is compared');
      assert.deepEqual(processesWith(tag), []);
    });
  }
});
