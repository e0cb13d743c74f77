import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FsidmapError } from '../errors.js';
import { readLedger, recordWrittenNamespace } from './ledger.js';

const root = process.getuid?.() === 0 ? undefined : 'needs root (a user namespace with maps written)';

test('a recorded namespace is alive while it exists, and its entry is removed once it is gone', { skip: root }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fsidmap-ledger-'));
  const child = spawn('unshare', ['--user', '--', 'sleep', '600'], { stdio: 'ignore' });
  try {
    const own = statSync('/proc/self/ns/user').ino;
    while (statSync(`/proc/${child.pid}/ns/user`).ino === own) await new Promise((r) => setTimeout(r, 5));
    const fd = openSync(`/proc/${child.pid}/ns/user`, 'r');
    const ino = statSync(`/proc/${child.pid}/ns/user`).ino;
    assert.equal(recordWrittenNamespace(fd, ino, { uid: '0 400000 65536\n', gid: '0 400000 65536\n' }, 'the test', dir), true);
    const live = readLedger(dir);
    assert.equal(live.alive.length, 1);
    assert.deepEqual(live.alive[0].uid, [[0, 400000, 65536]]);
    assert.equal(live.alive[0].inode, ino);
    // The process goes; the descriptor held here still keeps the namespace.
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.equal(readLedger(dir).alive.length, 1, 'kept by a descriptor');
    closeSync(fd);
    let left = 1;
    for (let i = 0; i < 100 && left > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      left = readLedger(dir).alive.length;
    }
    assert.equal(left, 0, 'gone once nothing keeps it');
    assert.deepEqual(readdirSync(dir), [], 'its entry removed');
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a ledger that cannot be written refuses with ERR_USERNS_LEDGER (and a missing one reads as empty)', { skip: root }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fsidmap-ledger-'));
  try {
    writeFileSync(join(dir, 'file'), ''); // a file where the ledger's directory should be
    const fd = openSync('/proc/self/ns/user', 'r');
    try {
      assert.throws(
        () => recordWrittenNamespace(fd, 1, { uid: '', gid: '' }, 'the test', join(dir, 'file', 'ledger')),
        (e: unknown) => e instanceof FsidmapError && e.code === 'ERR_USERNS_LEDGER' && e.hint !== undefined,
      );
    } finally {
      closeSync(fd);
    }
    assert.deepEqual(readLedger(join(dir, 'missing')), { alive: [], unknown: [] });
    assert.equal(existsSync(join(dir, 'missing')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
