import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { lockShadowFile } from './shadow-lock.js';

const dir = mkdtempSync(join(tmpdir(), 'fsidmap-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'subuid');

test('shadow lock: "<file>.lock" holds the pid and a NUL, like do_lock_file; release removes it', () => {
  const l = lockShadowFile(file, { tries: 1 });
  assert.equal(readFileSync(`${file}.lock`, 'latin1'), `${process.pid}\0`);
  assert.equal(existsSync(`${file}.${process.pid}`), false, 'the temporary link name is gone');
  l.release();
  assert.equal(existsSync(`${file}.lock`), false);
});

test('shadow lock: a lock held by a live process is respected', async () => {
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    writeFileSync(`${file}.lock`, `${sleeper.pid}\0`);
    assert.throws(() => lockShadowFile(file, { tries: 2, delayMs: 20 }), { code: 'ERR_HOST_LOCKED' });
    assert.equal(readFileSync(`${file}.lock`, 'latin1'), `${sleeper.pid}\0`, 'not broken');
  } finally {
    const gone = new Promise((r) => sleeper.once('exit', r));
    sleeper.kill('SIGKILL');
    await gone;
  }
  // Now the pid is dead: the lock is stale and taken over.
  const l = lockShadowFile(file, { tries: 1 });
  assert.equal(readFileSync(`${file}.lock`, 'latin1'), `${process.pid}\0`);
  l.release();
});

test('shadow lock: a lock file without a pid is not broken (as shadow refuses to)', () => {
  writeFileSync(`${file}.lock`, '');
  assert.throws(() => lockShadowFile(file, { tries: 1 }), { code: 'ERR_HOST_LOCKED' });
  rmSync(`${file}.lock`);
});

test("shadow lock: release leaves someone else's lock alone", () => {
  const l = lockShadowFile(file, { tries: 1 });
  writeFileSync(`${file}.lock`, '1\0');
  l.release();
  assert.equal(readFileSync(`${file}.lock`, 'latin1'), '1\0');
  rmSync(`${file}.lock`);
});
