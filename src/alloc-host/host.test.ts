import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { holderState } from '../alloc/index.js';
import { holderOf, localHolderProbe, processStartTime } from './holder.js';
import { readHostFacts, userSpellings } from './host-facts.js';

test('host facts: passwd, group, subuid and subgid under a root, parsed as glibc and shadow do', () => {
  const root = mkdtempSync(join(tmpdir(), 'fsidt5-facts-'));
  try {
    mkdirSync(join(root, 'etc'));
    writeFileSync(
      join(root, 'etc', 'passwd'),
      'root:x:0:0:root:/root:/bin/sh\n# comment\n+nis\nbad\nnoid:x::1::/:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n',
    );
    writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nwheel:x:10:alice\n');
    writeFileSync(
      join(root, 'etc', 'subuid'),
      'alice:100000:65536\n bob:200000:65536\nshort:1\nzero:1:0\n+nis:1:2\nmax:4294901760:65536\n',
    );
    const f = readHostFacts({ root });
    assert.deepEqual(f.users, [
      { name: 'root', id: 0 },
      { name: 'alice', id: 1000 },
    ]);
    assert.deepEqual(f.groups, [
      { name: 'root', id: 0 },
      { name: 'wheel', id: 10 },
    ]);
    assert.deepEqual(
      f.subuid.filter((s) => s.owner === 'alice' || s.owner === 'max'),
      [
        { owner: 'alice', start: 100000, end: 165536, line: 1 },
        { owner: 'max', start: 4294901760, end: 4294967296, line: 6 },
      ],
    );
    assert.ok(!f.subuid.some((s) => s.owner === 'short' || s.owner.startsWith('+')), 'unparsable and NIS lines grant nothing');
    assert.deepEqual(f.subgid, [], 'a missing file reads as empty');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('pool user: name and uid both match subid owners; unknown users match as written', () => {
  const facts = { users: [{ name: 'alice', id: 1000 }], groups: [], subuid: [], subgid: [] };
  assert.deepEqual(userSpellings(facts, 'alice'), ['alice', '1000']);
  assert.deepEqual(userSpellings(facts, '1000'), ['1000', 'alice']);
  assert.deepEqual(userSpellings(facts, 'ldap-user'), ['ldap-user']);
});

test('holder: /proc start time identifies a live process; a dead pid and a reused pid read as gone', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  await new Promise((r) => child.once('spawn', r));
  const h = holderOf(child.pid!);
  assert.equal(h.pid, child.pid);
  assert.ok(h.startTime > 0);
  assert.equal(processStartTime(child.pid!), h.startTime);
  const probe = localHolderProbe();
  assert.equal(holderState(h, probe), 'alive');
  // Same pid, other start time: what a reused pid looks like.
  assert.equal(holderState({ ...h, startTime: h.startTime - 1 }, probe), 'gone');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  // The zombie is reaped by node on exit; the pid is gone.
  for (let i = 0; i < 100 && processStartTime(child.pid!) !== undefined; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(processStartTime(child.pid!), undefined);
  assert.equal(holderState(h, probe), 'gone');
  assert.throws(() => holderOf(child.pid!), /no process/);
});

test('holder: a process name with spaces and parentheses does not shift the stat fields', () => {
  // Our own stat: node's comm is "node", but the parser must count fields after the last ')'.
  const self = processStartTime(process.pid);
  assert.ok(self !== undefined && self > 0);
  const fake = '123 (a) b (c)) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10';
  const rest = fake.slice(fake.lastIndexOf(')') + 2).split(' ');
  assert.equal(Number(rest[19]), 987654);
});
