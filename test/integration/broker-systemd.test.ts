import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BrokerClient } from '../../src/broker/client.js';
import { cliPath, repoRoot, rootSkip, sleep } from './support/broker-world.js';

/**
 * The unit files, checked with systemd's own tools: they parse, the
 * service's exposure score stays low, and none of the options that would
 * break the broker (a read-only or hidden tree, a hidden /proc, a user
 * namespace of its own) creeps in.
 */
const analyze =
  spawnSync('systemd-analyze', ['--version']).status === 0 ? undefined : 'systemd-analyze is not installed (Debian package systemd)';
const unit = (name: string) => readFileSync(join(repoRoot, 'systemd', name), 'utf8');

test('the socket and service units pass systemd-analyze verify', { skip: analyze }, () => {
  const dir = mkdtempSync('/tmp/fsidt8-units-');
  try {
    // Point ExecStart at this checkout's CLI, so verify can check that it is executable.
    writeFileSync(
      join(dir, 'fsidmap-broker.service'),
      unit('fsidmap-broker.service').replace('/usr/bin/fsidmap', `${process.execPath} ${cliPath}`),
    );
    writeFileSync(join(dir, 'fsidmap-broker.socket'), unit('fsidmap-broker.socket'));
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'fsidmap-broker.socket'), join(dir, 'fsidmap-broker.service')], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'no warnings');
    const sec = execFileSync('systemd-analyze', ['security', '--offline=true', join(dir, 'fsidmap-broker.service')], { encoding: 'utf8' });
    const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(sec)?.[1]);
    assert.ok(
      score > 0 && score <= 4.0,
      `exposure ${score} (systemd rates up to 4.0 as "OK"): ${sec
        .split('\n')
        .filter((l) => l.startsWith('✗'))
        .join('\n')}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the service keeps what the broker needs and none of the options that would break it', () => {
  const s = unit('fsidmap-broker.service');
  const set = (key: string) =>
    s
      .split('\n')
      .filter((l) => l.startsWith(`${key}=`))
      .map((l) => l.slice(key.length + 1));
  for (const cap of ['CAP_SYS_ADMIN', 'CAP_SETUID', 'CAP_SETGID']) assert.match(set('CapabilityBoundingSet').join(' '), new RegExp(cap));
  assert.deepEqual(set('RestrictNamespaces'), ['user mnt']);
  for (const key of [
    'ProtectSystem',
    'ProtectHome',
    'ReadOnlyPaths',
    'PrivateTmp',
    'InaccessiblePaths',
    'TemporaryFileSystem',
    'ProtectProc',
    'ProcSubset',
    'PrivateUsers',
    'DynamicUser',
    'User',
    'MemoryDenyWriteExecute',
  ]) {
    assert.deepEqual(set(key), [], `${key}= would break the broker (see the comments in the unit)`);
  }
  const sock = unit('fsidmap-broker.socket');
  assert.match(sock, /^ListenStream=\/run\/fsidmap\/broker\.sock$/m);
  assert.match(sock, /^SocketMode=0666$/m);
  assert.match(sock, /^DirectoryMode=0755$/m);
});

const activate =
  spawnSync('systemd-socket-activate', ['--help']).status === 0
    ? undefined
    : 'systemd-socket-activate is not installed (Debian package systemd)';

test(
  'the broker takes the listening socket systemd passes (LISTEN_FDS), as fsidmap-broker.socket does',
  { skip: rootSkip ?? activate },
  async () => {
    const dir = mkdtempSync('/tmp/fsidt8-activate-');
    const sock = join(dir, 'broker.sock');
    const child = spawn(
      'systemd-socket-activate',
      // Its own registry: the test is about the socket, not about whatever the host's default registry holds.
      ['-l', sock, process.execPath, cliPath, 'broker', '--audit-log', join(dir, 'audit.log'), '--db', join(dir, 'registry.db')],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    try {
      for (let i = 0; i < 200 && !existsSync(sock); i++) await sleep(10);
      // The first connection starts the broker, which then finds fd 3 listening.
      const c = BrokerClient.connect({ socket: sock, timeoutMs: 15000 });
      try {
        const h = await c.hello().catch((e: unknown) => {
          throw new Error(`hello failed (${String(e)}); the broker said: ${err || '(nothing)'}`);
        });
        assert.equal(h.peer.uid, 0);
        assert.equal(h.server, 'fsidmap-broker');
      } finally {
        c.close();
      }
      const audit = readFileSync(join(dir, 'audit.log'), 'utf8');
      assert.match(audit, /broker started on the socket systemd passed/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    }
    assert.doesNotMatch(err, /internal error/);
  },
);
