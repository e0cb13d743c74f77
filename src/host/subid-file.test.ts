import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { auditHost, checkDelegation } from './delegation.js';
import { addSubidRangeToFile, readSubidFile, removeSubidRangeFromFile, shadowView } from './subid-file.js';

const dir = mkdtempSync(join(tmpdir(), 'fsidmap-subid-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const f = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, Buffer.from(text, 'latin1'));
  chmodSync(p, 0o644);
  return p;
};
const passwd = f('passwd', 'root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/:/bin/sh\n');
const group = f('group', 'root:x:0:\nalice:x:1000:\n');

test('readSubidFile: present, missing, symlink (which newuidmap cannot open), NUL bytes', () => {
  const p = f('s1', 'alice:100000:65536\n');
  const r = readSubidFile(p);
  assert.equal(r.state, 'present');
  assert.equal(r.db?.lines.length, 1);
  assert.equal(shadowView(r), r.db);
  assert.equal(readSubidFile(join(dir, 'none')).state, 'missing');
  symlinkSync('s1', join(dir, 'link'));
  const l = readSubidFile(join(dir, 'link'));
  assert.equal(l.state, 'symlink');
  assert.equal(l.db?.lines.length, 1, 'the content is read for the audit');
  assert.equal(shadowView(l), null, 'but newuidmap (O_NOFOLLOW) gets nothing');
  assert.equal(readSubidFile(f('s2', 'a\0b\n:1:1\n')).hasNul, true);
});

test('add/remove on a file: creates a missing file 0644, edits in place, leaves other lines', () => {
  const p = join(dir, 'new-subuid');
  assert.equal(addSubidRangeToFile(p, 'alice', 100000, 65536).action, 'appended');
  assert.equal((readSubidFile(p).mode ?? 0) & 0o777, 0o644);
  addSubidRangeToFile(p, 'bob', 200000, 65536);
  assert.equal(addSubidRangeToFile(p, 'alice', 100000, 10).action, 'present');
  assert.equal(removeSubidRangeFromFile(p, 'alice', 100000, 65536).action, 'removed');
  assert.equal(readFileSync(p, 'latin1'), 'bob:200000:65536\n');
});

test('auditHost on files: symlinked and world-writable files are errors', () => {
  const real = f('real-subuid', 'alice:100000:65536\n');
  symlinkSync('real-subuid', join(dir, 'subuid-link'));
  const gid = f('subgid-ww', 'alice:100000:65536\n');
  chmodSync(gid, 0o666);
  const r = auditHost({ paths: { subuid: join(dir, 'subuid-link'), subgid: gid, passwd, group } });
  const codes = r.findings.map((x) => `${x.file}:${x.code}`).sort();
  assert.ok(codes.includes('subuid:file-symlink'), codes.join());
  assert.ok(codes.includes('subgid:file-permissions'), codes.join());
  assert.equal(readFileSync(real, 'latin1'), 'alice:100000:65536\n');
});

test('checkDelegation: a symlinked /etc/subuid stand-in refuses newuidmap silently, as the binary does', () => {
  const r = checkDelegation({
    user: 'alice',
    maps: { uid: ['0', '100000', '1'], fsuid: ['0', '100000', '1'] },
    paths: { subuid: join(dir, 'subuid-link'), subgid: join(dir, 'subgid-ww'), passwd, group, loginDefs: join(dir, 'none') },
  });
  assert.equal(r.maps[0].stage, 'subid-file');
  assert.equal(r.maps[1].allowed, true, 'the fsid policy reads the ranges through the link');
});
