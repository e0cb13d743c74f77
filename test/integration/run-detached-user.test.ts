// run -d, ps, exec and stop as an ordinary user: the supervisor goes through
// the broker as run does; exec, stop and ps need no broker (the user owns
// the container's user namespace).
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeSampleImage, SAMPLE_PROGRAMS } from '../../src/container/sample-image.js';
import { BrokerWorld, cliPath, rootSkip, type TestUser } from './support/broker-world.js';
import { ptySession } from './support/pty-session.js';

describe('fsidmap run -d, ps, exec and stop as an ordinary user', { skip: rootSkip }, () => {
  let w: BrokerWorld;
  let u: TestUser;
  const ids = () => `0:${u.sub.start}:65536`;
  const disk = () => u.sub.start + 65536;
  const image = () => join(u.home, 'img');

  before(async () => {
    w = await BrokerWorld.create({ users: 1, limits: { default: { requestsPerSecond: 1000, burst: 1000 } } });
    [u] = w.users;
    makeSampleImage(image(), { offset: disk(), programs: [...SAMPLE_PROGRAMS, 'tty'] });
    chmodSync(image(), 0o755);
  });

  after(async () => {
    const left = w ? await w.leftovers() : { mounts: [], processes: [], registry: [] };
    await w?.destroy();
    assert.deepEqual(left, { mounts: [], processes: [], registry: [] }, 'mounts, helper processes or registry entries were left behind');
  });

  const fsidmap = (args: string[]) => w.runAs(u, [process.execPath, cliPath, ...args]);

  it('a user starts a detached container through the broker, lists it, execs into it and stops it', async () => {
    const start = await fsidmap([
      'run',
      '-d',
      '--name',
      'ud',
      '--idmap',
      ids(),
      '--fsidmap',
      `0:${disk()}:65536`,
      '--rootfs',
      image(),
      '--',
      'sh',
      '-c',
      'echo up; while true; do sleep 1; done',
    ]);
    assert.equal(start.code, 0, start.stderr);
    assert.equal(start.stdout, 'ud\n');
    try {
      await checks();
    } finally {
      // After a failed check too, so the leftover check below reports what the failure left, not this container.
      await fsidmap(['stop', '--time', '0', 'ud']);
    }
    assert.equal((await fsidmap(['ps', '--json'])).stdout, '[]\n');
  });

  async function checks(): Promise<void> {
    const ps = await fsidmap(['ps', '--json']);
    const rows = JSON.parse(ps.stdout) as Array<{ name: string; status: string; pid: number; uidMap: string }>;
    assert.deepEqual(
      rows.map((r) => [r.name, r.status, r.uidMap]),
      [['ud', 'running', `0 ${u.sub.start} 65536`]],
    );
    const init = rows[0].pid;
    const map = await fsidmap(['exec', 'ud', 'cat', '/proc/self/uid_map']);
    assert.equal(map.code, 0, map.stderr);
    assert.equal(map.stdout, readFileSync(`/proc/${init}/uid_map`, 'utf8'));
    const ns = await fsidmap(['exec', 'ud', 'readlink', '/proc/self/ns/pid', '/proc/self/ns/mnt']);
    assert.equal(ns.stdout, `${readlinkSync(`/proc/${init}/ns/pid`)}\n${readlinkSync(`/proc/${init}/ns/mnt`)}\n`);
    const touch = await fsidmap(['exec', 'ud', 'sh', '-c', 'id -u; touch /made-by-exec']);
    assert.equal(touch.stdout, '0\n', touch.stderr);
    assert.equal(lstatSync(join(image(), 'made-by-exec')).uid, disk(), 'an exec writes at the fsid map, as CMD does');
    // exec -t as the user, on a real pseudo-terminal: a pty of the container's devpts.
    const asUser = ['setpriv', `--reuid=${u.uid}`, `--regid=${u.gid}`, '--init-groups', '--', process.execPath, cliPath];
    const pty = await ptySession(
      [...asUser, 'exec', '-t', 'ud', 'sh'],
      [{ expect: '# ' }, { send: 'tty; echo T-$?\n' }, { expect: 'T-0' }, { send: 'exit 5\n' }],
      { HOME: u.home, USER: u.name, LOGNAME: u.name, XDG_RUNTIME_DIR: '', FSIDMAP_RUN_DIR: '' },
    );
    assert.equal(pty.failed, null, `expected output did not come; got: ${pty.out}`);
    assert.equal(pty.status, 5);
    assert.match(pty.out, /\/dev\/pts\/0\r\n/);
    const logs = await fsidmap(['logs', 'ud']);
    assert.equal(logs.stdout, 'up\n');
    const stop = await fsidmap(['stop', '--time', '2', 'ud']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout, 'ud\n');
    // --network none through the broker: the stage makes the network namespace and brings loopback up as the container's root.
    const net = await fsidmap([
      'run',
      '--network',
      'none',
      '--idmap',
      ids(),
      '--rootfs',
      image(),
      '--',
      'sh',
      '-c',
      'readlink /proc/self/ns/net; cat /proc/net/dev',
    ]);
    assert.equal(net.code, 0, net.stderr);
    const [netns, ...dev] = net.stdout.trim().split('\n');
    assert.notEqual(netns, readlinkSync('/proc/self/ns/net'));
    assert.deepEqual(
      dev.filter((l) => /^\s*\w+:/.test(l)).map((l) => l.trim().split(':')[0]),
      ['lo'],
    );
  }
});
