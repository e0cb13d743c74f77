import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { simulateFile } from './load.js';
import { runScenario } from './runner.js';
import { loadScenario } from './load.js';

/** Every scenario shipped in scenarios/ holds: its expectations, and its sameResultsAs twin. */
const DIR = join(process.cwd(), 'scenarios');
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

test('scenarios: the repository ships the cases the seed discusses', () => {
  for (const name of [
    'seed-without-fsid-maps',
    'seed-with-fsid-maps',
    'seed-idmapped-mount',
    'shared-image',
    'shared-image-idmapped',
    'shared-storage',
    'shared-storage-idmapped',
    'unprivileged-many-roots',
    'unprivileged-many-roots-idmapped',
    'disk-image-backshift',
    'disk-image-backshift-idmapped',
    'nested-fsid',
    'nested-idmapped',
    'nested-v2-counterexample',
    'nested-v3-fix',
  ])
    assert.ok(files.includes(`${name}.json`), `scenarios/${name}.json`);
});

for (const f of files) {
  test(`scenario ${f}: every expectation holds`, () => {
    const r = simulateFile(join(DIR, f));
    const bad = r.report.steps
      .filter((s) => s.match === false)
      .map((s) => `step ${s.index} ${s.op} ${s.target}: ${s.mismatch} (${s.reason})`);
    assert.deepEqual(bad, []);
    assert.ok(
      r.report.steps.some((s) => s.match !== null),
      'a scenario states expectations',
    );
    if (r.sameResultsAs) assert.deepEqual(r.sameResultsAs.differences, [], `same results as ${r.sameResultsAs.file}`);
    assert.equal(r.ok, true);
  });
}

test("v3 nesting rule: under v2 an fsid-unaware child escapes the parent's fsid range, under v3 it stays inside", () => {
  const s = loadScenario(join(DIR, 'nested-v2-counterexample.json'));
  const create = (sem: 'v2' | 'v3') => runScenario(s, { semantics: sem }).steps.find((x) => x.op === 'create')!;
  const v2 = create('v2'),
    v3 = create('v3');
  assert.equal(v2.value?.diskUid, 101000, 'v2 falls back to the id map: on disk 101000');
  assert.equal(v3.value?.diskUid, 301000, 'v3 mirrors through the parent fsid map: on disk 301000');
  // N1's fsid map is 0 300000 65535: only v3's owner lies inside it.
  for (const [d, inside] of [
    [v2.value!.diskUid as number, false],
    [v3.value!.diskUid as number, true],
  ] as const) {
    assert.equal(d >= 300000 && d < 365535, inside);
  }
  const stat = (sem: 'v2' | 'v3') => runScenario(s, { semantics: sem }).steps.find((x) => x.op === 'stat')!.value!.uid;
  assert.equal(stat('v2'), 65534);
  assert.equal(stat('v3'), 1000);
});

test("semantics off: the seed without fsid maps is what today's kernel does", () => {
  const s = loadScenario(join(DIR, 'seed-without-fsid-maps.json'));
  const v3 = runScenario(s),
    off = runScenario(s, { semantics: 'off' });
  assert.deepEqual(
    off.steps.map((x) => [x.result, x.value]),
    v3.steps.map((x) => [x.result, x.value]),
  );
  assert.equal(off.ok, true);
});
