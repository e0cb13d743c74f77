import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

test('fsidmap explain --realisation: the idmapped mount (default) refuses a write the fsid-map series allows, and each says so', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fsidt3-cli-'));
  try {
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'open'), 'x');
    chmodSync(join(dir, 'open'), 0o666);
    // The runner's files (uid < 300000) lie outside the fsid map.
    const maps = [
      '--uidmap',
      '0:100000:65536',
      '--gidmap',
      '0:100000:65536',
      '--fsuidmap',
      '0:300000:65536',
      '--fsgidmap',
      '0:300000:65536',
    ];
    const entry = (out: string) => JSON.parse(out).entries.find((e: { path: string }) => e.path.endsWith('/open'));
    const d = await run(['explain', ...maps, '--json', dir]);
    assert.equal(d.code, 0, d.err);
    assert.equal(JSON.parse(d.out).setup.realisation, 'idmapped-mount');
    const w = entry(d.out).write;
    assert.deepEqual(
      [w.ok, w.rule, w.by, w.contrast.realisation, w.contrast.ok],
      [false, 'inode_permission', 'idmapped-mount', 'fsid-series', true],
    );
    assert.equal(JSON.parse(d.out).summary.differing, 1);
    const s = await run(['explain', ...maps, '--realisation', 'fsid-series', '--json', dir]);
    assert.equal(s.code, 0, s.err);
    const ws = entry(s.out).write;
    assert.deepEqual([ws.ok, ws.contrast.realisation, ws.contrast.ok], [true, 'idmapped-mount', false]);
    const text = await run(['explain', ...maps, dir]);
    assert.match(text.out, /write: \[idmapped-mount rule\] HAS_UNMAPPED_ID.*; the fsid-series: yes/);
    assert.match(text.out, /1 judged otherwise by the fsid-map series/);
    assert.equal((await run(['explain', ...maps, '--realisation', 'plain', dir])).code, 2);
    const far = await run(['explain', ...maps.slice(0, 5), '0:300000:70000', '--fsgidmap', '0:300000:65536', dir]);
    assert.equal(far.code, 2, 'maps run refuses are a usage error here');
    assert.match(far.err, /fsid-series/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
