import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeFileAtomic } from './atomic-write.js';

const dir = mkdtempSync(join(tmpdir(), 'fsidmap-atomic-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('atomic write: replaces the content, keeps the mode, leaves no temporary file', () => {
  const p = join(dir, 'subuid');
  writeFileSync(p, 'old\n');
  chmodSync(p, 0o640);
  const inode = statSync(p).ino;
  writeFileAtomic(p, 'new\n');
  assert.equal(readFileSync(p, 'latin1'), 'new\n');
  assert.equal(statSync(p).mode & 0o7777, 0o640);
  assert.notEqual(statSync(p).ino, inode, 'a new inode was renamed into place');
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('fsidmap-')),
    [],
  );
});

test('atomic write: a new file gets the given mode; bytes are written as given', () => {
  const p = join(dir, 'fresh');
  writeFileAtomic(p, Buffer.from([0x61, 0x00, 0xff, 0x0a]), { mode: 0o600 });
  assert.equal(statSync(p).mode & 0o7777, 0o600);
  assert.deepEqual([...readFileSync(p)], [0x61, 0x00, 0xff, 0x0a]);
  writeFileAtomic(join(dir, 'latin'), 'é\n');
  assert.deepEqual([...readFileSync(join(dir, 'latin'))], [0xe9, 0x0a], 'strings are latin1, one byte per char');
});

test('atomic write: a symlink is followed and stays a symlink', () => {
  const target = join(dir, 'real');
  const link = join(dir, 'link');
  writeFileSync(target, 'a\n');
  symlinkSync('real', link);
  writeFileAtomic(link, 'b\n');
  assert.equal(lstatSync(link).isSymbolicLink(), true);
  assert.equal(readFileSync(target, 'latin1'), 'b\n');
});

test('atomic write: failure leaves the old file and names the path', () => {
  assert.throws(() => writeFileAtomic(join(dir, 'no', 'such', 'dir', 'f'), 'x'), { code: 'ERR_HOST_WRITE' });
});
