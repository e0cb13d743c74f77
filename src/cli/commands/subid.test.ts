import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runCli } from '../run-cli.test-support.js';

const dir = mkdtempSync(join(tmpdir(), 'fsidmap-subid-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const f = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, Buffer.from(text, 'latin1'));
  return p;
};
const passwd = f('passwd', 'root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/:/bin/sh\nbob:x:1001:1001::/:/bin/sh\n');
const group = f('group', 'root:x:0:\nalice:x:1000:\nbob:x:1001:\n');
const subuid = f('subuid', 'alice:100000:30000\nalice:130000:35536\nbob:165536:65536\n');
const subgid = f('subgid', 'alice:100000:65536\nbob:165536:65536\n');
const defs = f('login.defs', '');
const FILES = ['--subuid', subuid, '--subgid', subgid, '--passwd', passwd, '--group', group];

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await runCli(argv);
  return { code: r.code, out: r.stdout, err: r.stderr };
}

test('subid check: exit 0 when every given map is allowed, with what is written', async () => {
  const r = await cli(
    'subid',
    'check',
    ...FILES,
    '--login-defs',
    defs,
    '--user',
    'alice',
    '--uidmap',
    '0:100000:65536',
    '--gidmap',
    '0:100000:65536,65536:1000:1',
    '--fsuidmap',
    '0:1000:1',
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^user alice \(uid 1000, gid 1000\): subordinate uids 100000–165535/);
  assert.match(r.out, /uid map: allowed; writes "0 100000 65536\\n" \(lines 1,2\)/);
  assert.match(r.out, /fsuid map: allowed/);
});

test('subid check: exit 1 when any map is refused; the refusal names the id and its holder', async () => {
  const r = await cli(
    'subid',
    'check',
    ...FILES,
    '--login-defs',
    defs,
    '--user',
    'alice',
    '--uidmap',
    '0:100000:65536',
    '--fsuidmap',
    '0:165000:1000',
  );
  assert.equal(r.code, 1);
  assert.match(r.out, /fsuid map: refused \(ownership, not-owned\): .*165536.*bob/);
  assert.match(r.out, /hint: /);
});

test('subid check --json: the documented shape', async () => {
  const r = await cli(
    'subid',
    'check',
    ...FILES,
    '--login-defs',
    defs,
    '--user',
    '1000',
    '--gidmap',
    '0 1000 1',
    '--uidmap',
    '0 100000 65537',
    '--json',
  );
  assert.equal(r.code, 1);
  const j = JSON.parse(r.out);
  assert.deepEqual(Object.keys(j).sort(), ['allowed', 'gid', 'maps', 'owned', 'uid', 'user']);
  assert.deepEqual(j.user, { name: 'alice', uid: 1000, gid: 1000 });
  assert.deepEqual(j.owned.subuid, [[100000, 165536]]);
  const [uid, gid] = j.maps;
  assert.equal(uid.kind, 'uid');
  assert.equal(uid.allowed, false);
  assert.equal(uid.stage, 'ranges');
  assert.equal(uid.stderr, 'newuidmap: uid range [0-65537) -> [100000-165537) not allowed');
  assert.equal(gid.allowed, true);
  assert.equal(gid.setgroups, 'deny');
  assert.equal(gid.installed, '0 1000 1\n');
  assert.deepEqual(gid.ranges, [{ upper: 0, lower: 1000, count: 1, via: 'own-id', lines: [] }]);
});

test('subid check: without maps it prints what the user owns; usage errors exit 2', async () => {
  const r = await cli('subid', 'check', ...FILES, '--user', 'bob');
  assert.equal(r.code, 0);
  assert.match(r.out, /subordinate uids 165536–231071; subordinate gids 165536–231071/);
  assert.equal((await cli('subid', 'check', ...FILES)).code, 2, '--user is required');
  assert.equal((await cli('subid', 'check', ...FILES, '--user', 'alice', '--gid', 'x')).code, 2);
  assert.equal((await cli('subid', 'check', ...FILES, '--user', 'alice', '--uidmap', join(dir, 'nope'))).code, 2);
  assert.equal((await cli('subid', 'check', ...FILES, '--user', 'alice', 'stray')).code, 2);
});

test('subid check: an unknown name is an error; an unknown uid is refused as newuidmap would', async () => {
  const name = await cli('subid', 'check', ...FILES, '--user', 'carol', '--uidmap', '0:1:1');
  assert.equal(name.code, 1);
  assert.match(name.err, /user "carol" is not in/);
  const uid = await cli('subid', 'check', ...FILES, '--user', '4242', '--uidmap', '0:4242:1', '--fsuidmap', '0:4242:1', '--json');
  assert.equal(uid.code, 1);
  const j = JSON.parse(uid.out);
  assert.equal(j.user, null);
  assert.equal(j.maps[0].stderr, 'newuidmap: Cannot determine your user name.');
  assert.equal(j.maps[1].rule, 'unknown-caller');
});

test('subid check: a missing file given explicitly is an error naming it', async () => {
  const r = await cli('subid', 'check', '--subuid', join(dir, 'missing'), '--passwd', passwd, '--user', 'alice');
  assert.equal(r.code, 1);
  assert.match(r.err, /missing/);
});

test('subid audit: exit 0 on clean files, 1 with an error finding; --json lists findings', async () => {
  const clean = await cli('subid', 'audit', ...FILES);
  assert.equal(clean.code, 0, clean.out);
  assert.match(clean.out, /0 error\(s\), 0 warning\(s\), 0 note\(s\)/);
  const bad = f('bad-subuid', 'alice:100000:65536\nbob:150000:65536\n# note\n');
  const r = await cli('subid', 'audit', '--subuid', bad, '--subgid', subgid, '--passwd', passwd, '--group', group);
  assert.equal(r.code, 1);
  assert.match(r.out, /^error {3}overlap .*bad-subuid:1,2: /m);
  const j = JSON.parse(
    (await cli('subid', 'audit', '--subuid', bad, '--subgid', subgid, '--passwd', passwd, '--group', group, '--json')).out,
  );
  assert.deepEqual(Object.keys(j).sort(), ['counts', 'entries', 'findings', 'lines', 'paths', 'truncated']);
  assert.equal(j.counts.error, 1);
  assert.equal(j.findings[0].code, 'overlap');
  assert.deepEqual(j.findings[0].lines, [1, 2]);
  assert.deepEqual(j.findings[0].range, [150000, 165536]);
  assert.ok(j.findings.some((x: { code: string }) => x.code === 'comment-line'));
});

test('subid audit: --max-per-code caps the listing and counts the rest', async () => {
  const many = f('many', Array.from({ length: 30 }, (_, i) => `u${i}:100000:65536`).join('\n') + '\n');
  const r = await cli(
    'subid',
    'audit',
    '--subuid',
    many,
    '--subgid',
    many,
    '--passwd',
    passwd,
    '--group',
    group,
    '--max-per-code',
    '3',
    '--json',
  );
  const j = JSON.parse(r.out);
  assert.equal(j.findings.filter((x: { code: string }) => x.code === 'overlap').length, 3);
  assert.equal(j.truncated.overlap, 2 * 29 - 3);
  assert.equal(r.code, 1);
});
