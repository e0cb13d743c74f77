import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { makeFixture, snapshot, diffSnapshots } from './tree-fixture.js';

const skip = process.getuid?.() === 0 ? false : 'needs root (chown)';
const work = mkdtempSync(join(tmpdir(), 'fsidmap-i7cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough(),
    err = new PassThrough();
  let stdout = '',
    stderr = '';
  out.on('data', (d) => {
    stdout += d;
  });
  err.on('data', (d) => {
    stderr += d;
  });
  const code = await main(argv, {
    stdout: out,
    stderr: err,
    stdin: new PassThrough(),
    env: { FSIDMAP_STATE_DIR: join(work, 'state') },
    interactive: false,
  });
  await new Promise((r) => setImmediate(r));
  return { code, stdout, stderr };
}

test('cli: image shift usage errors exit 2 before touching the tree', { skip }, async () => {
  const dir = join(work, 'usage');
  makeFixture(dir, { files: 20, base: 0, seed: 41 });
  const before = snapshot(dir);
  for (const argv of [
    ['image', 'shift', dir],
    ['image', 'shift', dir, '0:100000:65536', '--unmapped', 'maybe'],
    ['image', 'shift', dir, '0:100000'],
    ['image', 'shift', dir, '0:100000:65536', '--bogus'],
  ]) {
    const r = await cli(...argv);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^fsidmap(: | image shift[: ])/, r.stderr);
  }
  assert.deepEqual(diffSnapshots(snapshot(dir), before), []);
});

test('cli: image shift refuses uncovered ids with exit 1 and lists them', { skip }, async () => {
  const dir = join(work, 'refuse');
  makeFixture(dir, { files: 40, base: 0, seed: 42, strayUids: [70000] });
  const r = await cli('image', 'shift', dir, '0:100000:65536');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /uid 70000 \(owner, 1 entry/);
  assert.match(r.stderr, /hint: .*--unmapped keep/);
});

test('cli: image shift --json reports what changed; text mode says it in one line', { skip }, async () => {
  const dir = join(work, 'json');
  makeFixture(dir, { files: 100, base: 0, seed: 43 });
  const dry = await cli('image', 'shift', '--dry-run', '--json', dir, '0 100000 65536');
  assert.equal(dry.code, 0, dry.stderr);
  const d = JSON.parse(dry.stdout);
  assert.deepEqual(Object.keys(d).sort(), [
    'alreadyDone',
    'dryRun',
    'durationMs',
    'engine',
    'journalBytes',
    'kept',
    'phasesMs',
    'resumed',
    'root',
    'skippedMounts',
    'stats',
  ]);
  assert.deepEqual(Object.keys(d.phasesMs).sort(), ['plan', 'scan'], 'a dry run reads and plans');
  assert.deepEqual(Object.keys(d.stats).sort(), [
    'aclAccess',
    'aclDefault',
    'capability',
    'entries',
    'hardLinks',
    'mode',
    'owner',
    'unchanged',
  ]);
  assert.equal(d.dryRun, true);
  const r = await cli('image', 'shift', dir, '0 100000 65536');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^shifted .*: [\d,]+ owners, \d+ modes? restored/);
  const back = await cli('image', 'shift', '-r', '--json', dir, '0:100000:65536');
  const b = JSON.parse(back.stdout);
  assert.equal(b.stats.owner, d.stats.owner);
  assert.deepEqual(Object.keys(b.phasesMs).sort(), ['apply', 'finish', 'journal', 'plan', 'scan', 'sync']);
  assert.equal(d.journalBytes, 0, 'a dry run writes no journal');
  // Names and directory rows, not whole paths: well under 100 bytes per entry here.
  assert.ok(b.journalBytes > 0 && b.journalBytes < 100 * b.stats.entries, `journal of ${b.journalBytes} bytes`);
});

test('cli: image inspect prints ranges and base; --json has the report shape', { skip }, async () => {
  const dir = join(work, 'inspect');
  makeFixture(dir, { files: 200, base: 100000, seed: 44, capRootIds: [0] });
  const t = await cli('image', 'inspect', dir);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /base: +uid 100000, gid 100000 \(owner of the root directory\); offset map: uid "0 100000 65536"/);
  const j = await cli('image', 'inspect', '--json', dir);
  const r = JSON.parse(j.stdout);
  for (const k of ['entries', 'types', 'uids', 'gids', 'base', 'outside', 'setuid', 'setgid', 'acl', 'capabilities', 'hardLinks'])
    assert.ok(k in r, k);
  assert.equal(r.entries, snapshot(dir).size);
  assert.ok(r.capabilities.namespaced > 0 && r.acl.count > 0 && r.setuid.count > 0 && r.hardLinks.count > 0);
});

test('cli: image inspect of a file that is no image, or of nothing, exits 1', { skip }, async () => {
  writeFileSync(join(work, 'plain.txt'), 'hello');
  const a = await cli('image', 'inspect', join(work, 'plain.txt'));
  assert.equal(a.code, 1);
  assert.match(a.stderr, /neither a directory nor a tar archive/);
  const b = await cli('image', 'inspect', join(work, 'missing'));
  assert.equal(b.code, 1);
});

test('cli: image inspect of a tar archive (plain and gzip) reports what the tree itself reports', { skip }, async () => {
  const dir = join(work, 'fortar');
  makeFixture(dir, { files: 20, base: 0, seed: 45 });
  const tar = join(work, 'x.tar');
  execFileSync('tar', ['-C', dir, '--numeric-owner', '-cf', tar, '.']);
  assert.ok(existsSync(tar));
  execFileSync('sh', ['-c', `gzip -c < '${tar}' > '${tar}.gz'`]);
  const fromTree = JSON.parse((await cli('image', 'inspect', '--json', dir)).stdout);
  for (const archive of [tar, `${tar}.gz`]) {
    const r = await cli('image', 'inspect', '--json', archive);
    assert.equal(r.code, 0, r.stderr);
    const fromTar = JSON.parse(r.stdout);
    // Same owners and features; tar stores hard links as entries of their own.
    assert.deepEqual(
      [fromTar.uids, fromTar.gids, fromTar.base.uid, fromTar.setuid.count, fromTar.setgid.count],
      [fromTree.uids, fromTree.gids, fromTree.base.uid, fromTree.setuid.count, fromTree.setgid.count],
    );
    assert.equal(fromTar.entries, fromTree.entries);
  }
});
