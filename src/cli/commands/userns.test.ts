import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { main } from '../main.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough(),
    stderr = new PassThrough();
  let out = '',
    err = '';
  stdout.on('data', (d) => {
    out += d;
  });
  stderr.on('data', (d) => {
    err += d;
  });
  const code = await main(argv, { stdout, stderr, stdin: new PassThrough(), env: {}, interactive: false });
  return { code, out, err };
}

const SCENARIOS = join(process.cwd(), 'scenarios');

test('fsidmap simulate: a scenario whose expectations hold exits 0 and prints a row per step', async () => {
  const r = await run(['simulate', join(SCENARIOS, 'seed-with-fsid-maps.json')]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^seed-with-fsid-maps \(semantics v3\)/);
  assert.match(r.out, /c1-root\s+create\s+\/c1\/rootfs\/etc\/new\s+ok\s+✓ ok diskUid=300000/);
  assert.match(r.out, /ok: \d+ expectations met/);
});

test('fsidmap simulate --semantics off: the fsid scenario fails its expectations (exit 1) and says which', async () => {
  const r = await run(['simulate', '--semantics', 'v2', join(SCENARIOS, 'nested-v3-fix.json')]);
  assert.equal(r.code, 1);
  assert.match(r.out, /MISMATCH: diskUid 101000, expected 301000/);
});

test('fsidmap simulate --json: one object per file with steps, results, reasons and the sameResultsAs comparison', async () => {
  const r = await run(['simulate', '--json', join(SCENARIOS, 'seed-idmapped-mount.json')]);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.ok, true);
  assert.equal(j.semantics, 'off');
  assert.deepEqual(j.sameResultsAs.differences, []);
  const s = j.steps.find((x: { op: string }) => x.op === 'create');
  assert.deepEqual(Object.keys(s).sort(), [
    'as',
    'compare',
    'expected',
    'index',
    'match',
    'mismatch',
    'note',
    'op',
    'reason',
    'result',
    'rule',
    'target',
    'value',
  ]);
  assert.equal(s.value.diskUid, 300000);
});

test('fsidmap simulate: a missing file or a bad scenario is a usage error (exit 2) naming it', async () => {
  assert.equal((await run(['simulate', '/nonexistent.json'])).code, 2);
  const dir = mkdtempSync(join(tmpdir(), 'fsidt3-cli-'));
  try {
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ name: 'x', steps: [{ op: 'stat' }] }));
    const r = await run(['simulate', join(dir, 'bad.json')]);
    assert.equal(r.code, 1, 'ERR_SCENARIO_INVALID is not a usage code');
    assert.match(r.err, /steps\[0\]\.path: "stat" needs "path"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal((await run(['simulate'])).code, 2);
  assert.equal((await run(['simulate', '--semantics', 'v9', 'x.json'])).code, 2);
});

test('fsidmap explain: per entry owner as seen and read/write/chown with reasons; --json', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fsidt3-cli-'));
  try {
    mkdirSync(join(dir, 'etc'));
    writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0\n');
    const args = ['explain', '--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536', '--json', dir];
    const r = await run(args);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.entries.length, 3);
    const passwd = j.entries.find((e: { path: string }) => e.path.endsWith('etc/passwd'));
    const owner = process.getuid?.() ?? 0;
    assert.equal(passwd.disk.uid, owner);
    assert.equal(passwd.seen.uid, 65534, "the file's owner is outside 100000..165535");
    assert.equal(passwd.write.ok, false);
    assert.equal(typeof passwd.write.why, 'string');
    assert.equal(j.summary.entries, 3);
    const text = await run(args.filter((a) => a !== '--json'));
    assert.match(text.out, /3 entries: /);
    assert.match(text.out, /write: /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fsidmap explain: usage errors exit 2 (missing --uidmap, one fsid map without the other, bad --as)', async () => {
  assert.equal((await run(['explain', '--gidmap', '0:1:1', '/'])).code, 2);
  assert.equal((await run(['explain', '--uidmap', '0:1:1', '--gidmap', '0:1:1', '--fsuidmap', '0:1:1', '/'])).code, 2);
  assert.equal((await run(['explain', '--uidmap', '0:1:1', '--gidmap', '0:1:1', '--as', 'root', '/'])).code, 2);
  assert.equal((await run(['explain', '--uidmap', '0:1:1', '--gidmap', '0:1:1', '/nonexistent-path-fsidt3'])).code, 2);
});
