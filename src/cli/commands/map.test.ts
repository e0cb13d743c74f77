import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../run-cli.test-support.js';

describe('fsidmap map check (CLI contract)', () => {
  test('exit 0 and the extents when the kernel would accept', async () => {
    const r = await runCli(['map', 'check', '--json', '0:100000:65536,65536:300000:10']);
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.stdout), {
      ok: true,
      errno: null,
      line: null,
      rule: null,
      message: null,
      extents: [
        [0, 100000, 65536],
        [65536, 300000, 10],
      ],
    });
  });
  test('exit 1 with line, rule and errno on stderr when it would refuse', async () => {
    const r = await runCli(['map', 'check', '0 0 10\n5 100 1\n']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /EINVAL at line 2 \(rule upper-overlap\)/);
    assert.match(r.stderr, /hint: /);
  });
  test('--json on refusal', async () => {
    const r = await runCli(['map', 'check', '--json', '--kind', 'gid', '--unprivileged', '--euid', '1000', '--egid', '1000', '0 1000 1']);
    assert.equal(r.code, 1);
    const j = JSON.parse(r.stdout);
    assert.equal(j.ok, false);
    assert.equal(j.errno, 'EPERM');
    assert.equal(j.rule, 'setgroups-not-denied');
    assert.equal(j.line, 1);
    assert.deepEqual(j.extents, [[0, 1000, 1]]);
  });
  test('--unprivileged with --setgroups deny accepts the own-gid map', async () => {
    const r = await runCli([
      'map',
      'check',
      '--kind',
      'gid',
      '--unprivileged',
      '--euid',
      '1000',
      '--egid',
      '1000',
      '--setgroups',
      'deny',
      '0:1000:1',
    ]);
    assert.equal(r.code, 0, r.stderr);
  });
  test('--parent: composition through the parent map', async () => {
    assert.equal((await runCli(['map', 'check', '--parent', '0:100000:65536', '0:10:20'])).code, 0);
    const r = await runCli(['map', 'check', '--json', '--parent', '0:100000:65536', '0:65530:20']);
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).rule, 'outside-parent');
  });
  test('a file is checked byte for byte, as one write(2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fsidmap-cli-'));
    writeFileSync(join(dir, 'ok'), '0 100000 65536\n');
    writeFileSync(join(dir, 'twonl'), '0 100000 65536\n\n');
    assert.equal((await runCli(['map', 'check', join(dir, 'ok')])).code, 0);
    const r = await runCli(['map', 'check', '--json', join(dir, 'twonl')]);
    assert.equal(JSON.parse(r.stdout).line, 2);
  });
  test('- reads the map from stdin', async () => {
    assert.equal((await runCli(['map', 'check', '-'], { stdin: '0 0 4294967295\n' })).code, 0);
    assert.equal((await runCli(['map', 'check', '-'], { stdin: '1 0 4294967295\n' })).code, 1);
  });
  test('usage errors exit 2', async () => {
    assert.equal((await runCli(['map', 'check'])).code, 2);
    assert.equal((await runCli(['map', 'check', '--kind', 'projid', '0:0:1'])).code, 2);
    assert.equal((await runCli(['map', 'check', '--bogus', '0:0:1'])).code, 2);
    assert.equal((await runCli(['map', 'check', '--euid', '5', '0:0:1'])).code, 2);
    assert.equal((await runCli(['map', 'check', '/nonexistent/map'])).code, 2);
    assert.equal((await runCli(['map', 'check', '--parent', '0:0:0', '0:0:1'])).code, 2, 'an invalid --parent is a usage error');
  });
});

describe('fsidmap map show / translate / compose / invert / mount-map', () => {
  test("show prints the kernel format, in the kernel's order", async () => {
    const r = await runCli(['map', 'show', '0:100000:65536']);
    assert.equal(r.stdout, '         0     100000      65536\n');
    const n = await runCli(['map', 'show', '--normalize', '10 110 10\n0 100 10']);
    assert.equal(n.stdout, '         0        100         20\n');
  });
  test('translate: one line per id, - when unmapped, --munged prints 65534', async () => {
    assert.equal((await runCli(['map', 'translate', '0:100000:65536', '--down', '0', '5', '70000'])).stdout, '100000\n100005\n-\n');
    assert.equal((await runCli(['map', 'translate', '0:100000:65536', '--up', '100005', '3', '--munged'])).stdout, '5\n65534\n');
    const j = await runCli(['map', 'translate', '0:100000:65536', '--up', '--json', '100005', '3']);
    assert.deepEqual(JSON.parse(j.stdout), {
      results: [
        { input: 100005, output: 5 },
        { input: 3, output: null },
      ],
    });
    assert.equal((await runCli(['map', 'translate', '0:1:1', '--up', '--down', '1'])).code, 2);
    assert.equal((await runCli(['map', 'translate', '0:1:1', '--up', '-5'])).code, 2);
  });
  test('compose A B is x → B(A(x))', async () => {
    const r = await runCli(['map', 'compose', '0:1000:10', '1000:50000:5']);
    assert.equal(r.stdout, '         0      50000          5\n');
  });
  test('invert swaps the columns', async () => {
    assert.equal((await runCli(['map', 'invert', '0:300000:100000'])).stdout, '    300000          0     100000\n');
  });
  test('mount-map: the seed example', async () => {
    const r = await runCli(['map', 'mount-map', '--idmap', '0:100000:100000', '--fsidmap', '0:300000:100000']);
    assert.equal(r.stdout, '    300000     100000     100000\n');
    const bad = await runCli(['map', 'mount-map', '--idmap', '0:100000:65536', '--fsidmap', '0:300000:100000']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /65536/);
  });
  test("unknown commands name the family's commands", async () => {
    const r = await runCli(['map', 'frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /check, show, translate/);
  });
});

test('the fsidmap binary runs (bin entry, exit status, stdout)', () => {
  const bin = fileURLToPath(new URL('../main.js', import.meta.url));
  const r = spawnSync(process.execPath, [bin, 'map', 'mount-map', '--idmap', '0:100000:100000', '--fsidmap', '0:300000:100000']);
  assert.equal(r.status, 0, r.stderr.toString());
  assert.equal(r.stdout.toString(), '    300000     100000     100000\n');
  const bad = spawnSync(process.execPath, [bin, 'map', 'check', '0 0 0']);
  assert.equal(bad.status, 1);
});
