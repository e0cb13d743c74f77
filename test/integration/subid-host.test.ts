import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { addSubidRangeToFile, lockShadowFile, readSubidFile } from '../../src/host/index.js';
import { addSubidRange, removeSubidRange } from '../../src/policy/subid-edit.js';
import { int, pick, rng } from '../support/map-cases.js';
import { harnessUnavailable, run } from '../support/subid-harness.js';

/**
 * fsidmap's subordinate-id writer next to shadow's own: the same add and
 * remove give byte-identical files (usermod --prefix runs on a copy), and
 * fsidmap and usermod writing one file at the same time, each under
 * shadow's lock, lose no line.
 */
const skip = harnessUnavailable();
const hostIndex = fileURLToPath(new URL('../../src/host/index.js', import.meta.url));

describe("subordinate-id files: fsidmap and shadow's usermod", { skip }, () => {
  let root: string;
  const prefix = (name: string) => {
    const p = join(root, name);
    mkdirSync(join(p, 'etc'), { recursive: true });
    return p;
  };
  const PASSWD =
    'root:x:0:0::/root:/bin/sh\npa:x:5001:5001::/:/bin/sh\npb:x:5002:5002::/:/bin/sh\npc:x:5003:5003::/:/bin/sh\npd:x:5004:5004::/:/bin/sh\n';
  const GROUP = 'root:x:0:\npa:x:5001:\npb:x:5002:\npc:x:5003:\npd:x:5004:\n';
  const setup = (p: string, subuid: string) => {
    writeFileSync(join(p, 'etc', 'passwd'), PASSWD);
    writeFileSync(join(p, 'etc', 'group'), GROUP);
    writeFileSync(join(p, 'etc', 'subuid'), Buffer.from(subuid, 'latin1'));
    writeFileSync(join(p, 'etc', 'subgid'), '');
  };
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'fsidmap-subid-host-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('add and remove produce the same bytes as usermod --add-subuids / --del-subuids', () => {
    const r = rng(77);
    const odd = ['# comment', '', '+nis:1:1', 'junk line', 'pa:300:10 ', 'pb:0x100:16', 'pa:1:2:extra', '5001:700:50', 'pc:100:0'];
    let n = 0;
    for (let i = 0; i < 60; i++) {
      const lines: string[] = [];
      for (let k = int(r, 0, 8); k > 0; k--) {
        lines.push(r() < 0.3 ? pick(r, odd) : `${pick(r, ['pa', 'pb', 'pa', '5001'])}:${int(r, 0, 60) * 10}:${int(r, 1, 12) * 10}`);
      }
      const base = lines.join('\n') + (r() < 0.85 && lines.length > 0 ? '\n' : '');
      const owner = pick(r, ['pa', 'pb']);
      const first = int(r, 0, 70) * 10 + pick(r, [0, 0, 5]);
      const last = first + int(r, 0, 80);
      const op = pick(r, ['--add-subuids', '--del-subuids'] as const);
      const p = prefix(`edit${i}`);
      setup(p, base);
      const u = run('usermod', ['--prefix', p, op, `${first}-${last}`, owner]);
      assert.equal(u.status, 0, `usermod ${op} ${first}-${last} ${owner}: ${u.stderr}`);
      const theirs = readFileSync(join(p, 'etc', 'subuid'), 'latin1');
      // With --prefix the file is not named /etc/subuid, so shadow's find_range has no uid pass: no accounts here.
      const ours =
        op === '--add-subuids'
          ? addSubidRange(base, owner, BigInt(first), BigInt(last - first + 1))
          : removeSubidRange(base, owner, BigInt(first), BigInt(last - first + 1));
      assert.equal(ours.text, theirs, `${op} ${first}-${last} ${owner} on ${JSON.stringify(base)}`);
      n++;
    }
    console.log(`subid edits: ${n} compared byte for byte with usermod`);
  });

  test('a lock held by fsidmap makes usermod wait; both changes land', async () => {
    const p = prefix('wait');
    setup(p, 'pa:100000:65536\n');
    const file = join(p, 'etc', 'subuid');
    const lock = lockShadowFile(file, { tries: 1 });
    const child = spawn('usermod', ['--prefix', p, '--add-subuids', '200000-265535', 'pb'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? -1)));
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(child.exitCode, null, 'usermod is still waiting for the lock');
    assert.equal(readFileSync(file, 'latin1'), 'pa:100000:65536\n');
    lock.release();
    assert.equal(await exited, 0, stderr);
    assert.equal(readFileSync(file, 'latin1'), 'pa:100000:65536\npb:200000:65536\n');
  });

  test('fsidmap and usermod writing one file at once lose no line', async () => {
    const p = prefix('race');
    setup(p, '# keep me\npa:1:1\n');
    const file = join(p, 'etc', 'subuid');
    const jobs: Array<Promise<number>> = [];
    const exit = (c: ReturnType<typeof spawn>) => new Promise<number>((resolve) => c.once('exit', (code) => resolve(code ?? -1)));
    const ours = Array.from({ length: 6 }, (_, i) => ({ owner: `own${i}`, start: 1_000_000 + i * 100_000 }));
    const theirs = ['pa', 'pb', 'pc', 'pd'].map((u, i) => ({ owner: u, start: 5_000_000 + i * 100_000 }));
    for (const t of theirs)
      jobs.push(exit(spawn('usermod', ['--prefix', p, '--add-subuids', `${t.start}-${t.start + 65535}`, t.owner], { stdio: 'ignore' })));
    for (const o of ours) {
      const code = `const h = await import(${JSON.stringify(hostIndex)}); h.addSubidRangeToFile(${JSON.stringify(file)}, ${JSON.stringify(o.owner)}, ${o.start}, 65536, { tries: 60, delayMs: 100 });`;
      jobs.push(exit(spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: 'inherit' })));
    }
    const codes = await Promise.all(jobs);
    assert.deepEqual(
      codes,
      codes.map(() => 0),
    );
    const text = readFileSync(file, 'latin1');
    const lines = text.split('\n').filter((l) => l !== '');
    assert.equal(lines[0], '# keep me');
    assert.equal(lines[1], 'pa:1:1');
    for (const x of [...ours, ...theirs])
      assert.ok(lines.includes(`${x.owner}:${x.start}:65536`), `${x.owner} is in ${JSON.stringify(text)}`);
    assert.equal(lines.length, 2 + ours.length + theirs.length);
    assert.equal(readSubidFile(file).db?.lines.length, lines.length);
  });

  test('the writer keeps odd lines, mode and owner of the file', () => {
    const p = prefix('keep');
    setup(p, 'x\0y\nbad line \n');
    const file = join(p, 'etc', 'subuid');
    run('chmod', ['600', file]);
    run('chown', ['5001:5002', file]);
    const e = addSubidRangeToFile(file, 'pa', 100000, 65536);
    assert.equal(e.action, 'appended');
    assert.equal(readFileSync(file, 'latin1'), 'x\0y\nbad line \npa:100000:65536\n');
    const st = readSubidFile(file);
    assert.equal((st.mode ?? 0) & 0o7777, 0o600);
    assert.equal(st.uid, 5001);
    assert.equal(st.gid, 5002);
  });
});
