import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BrokerWorld, cliPath, rootSkip, type TestUser } from './support/broker-world.js';

/** The broker's command line: exit statuses, errors with their hints, --json shapes, a clean stop. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}, asUser?: TestUser) {
  const argv = [process.execPath, cliPath, ...args];
  const r = asUser
    ? spawnSync('setpriv', [`--reuid=${asUser.uid}`, `--regid=${asUser.gid}`, '--init-groups', '--', ...argv], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, HOME: asUser.home, ...env },
        cwd: '/',
      })
    : spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('fsidmap broker (CLI)', { skip: rootSkip }, () => {
  let w: BrokerWorld;
  let a: TestUser;

  before(async () => {
    w = await BrokerWorld.create({ users: 1 });
    [a] = w.users;
  });

  after(async () => {
    const left = w ? await w.leftovers() : { mounts: [], processes: [], registry: [] };
    await w?.destroy();
    assert.deepEqual(left, { mounts: [], processes: [], registry: [] });
  });

  it('status, alloc, list and release as a user, in text and --json', () => {
    const env = { FSIDMAP_BROKER_SOCKET: w.socket };
    const status = cli(['broker', 'status'], env, a);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`you: uid ${a.uid} gid ${a.gid} \\(${a.name}\\)`));
    assert.match(status.stdout, new RegExp(`subordinate ${a.sub.start}\\+${a.sub.count}`));
    const json = JSON.parse(cli(['broker', 'status', '--json'], env, a).stdout);
    assert.deepEqual(json.owned.uid.subordinate, [[a.sub.start, a.sub.count]]);
    const alloc = JSON.parse(cli(['broker', 'alloc', 'x1', '--kind', 'volume', '--json'], env, a).stdout);
    assert.equal(alloc.created, true);
    assert.equal(alloc.allocation.kind, 'volume');
    const listed = cli(['broker', 'list'], env, a).stdout;
    assert.match(listed, /^NAME +KIND +UID +GID +STATE\nx1 +volume +\d+:65536 +\d+:65536 +allocated\n$/);
    assert.match(cli(['broker', 'release', 'x1'], env, a).stdout, /^released volume x1/);
    assert.equal(cli(['broker', 'list'], env, a).stdout, 'NAME  KIND  UID  GID  STATE\n', 'the header, even with nothing to list');
  });

  it("refusals exit 1 with the broker's message; usage errors exit 2", () => {
    const env = { FSIDMAP_BROKER_SOCKET: w.socket };
    const r = cli(['broker', 'release', 'nope'], env, a);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /you hold no allocation named "nope"/);
    assert.equal(cli(['broker', 'alloc'], env, a).code, 2);
    assert.equal(cli(['broker', 'alloc', 'x', '--kind', 'vm'], env, a).code, 2);
    assert.equal(cli(['broker', 'extra-arg'], env).code, 2);
  });

  it('without a broker: exit 1, and the hint says how to start one', () => {
    const r = cli(['broker', 'status'], { FSIDMAP_BROKER_SOCKET: join(w.base, 'none.sock') }, a);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no fsidmap broker is listening/);
    assert.match(r.stderr, /hint: .*systemctl enable --now fsidmap-broker\.socket.*sudo fsidmap broker/);
  });

  it('refuses to start as a user, on a live socket, in an unsafe directory, or with a bad limits file', () => {
    const asUser = cli(['broker', '--socket', join(a.home, 'b.sock'), '--audit-log', '-'], {}, a);
    assert.equal(asUser.code, 1);
    assert.match(asUser.stderr, /must run as root/);
    const live = cli(['broker', '--socket', w.socket, '--audit-log', '-', '--db', join(w.base, 'x.db')]);
    assert.equal(live.code, 1);
    assert.match(live.stderr, /already listening/);
    const dir = mkdtempSync('/tmp/fsidt8-cli-');
    try {
      const unsafe = cli(['broker', '--socket', join(a.home, 'b.sock'), '--audit-log', '-', '--db', join(dir, 'x.db')]);
      assert.equal(unsafe.code, 1);
      assert.match(unsafe.stderr, /must be a directory owned by root/);
      writeFileSync(join(dir, 'limits.json'), '{"default":{"namespace":1}}');
      const bad = cli([
        'broker',
        '--socket',
        join(dir, 'b.sock'),
        '--audit-log',
        '-',
        '--limits',
        join(dir, 'limits.json'),
        '--db',
        join(dir, 'x.db'),
      ]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /unknown key "namespace"/);
      assert.equal(existsSync(join(dir, 'b.sock')), false, 'nothing was left listening');
      const missing = join(dir, 'no-such-dir');
      const audit = cli(['broker', '--socket', join(dir, 'b.sock'), '--audit-log', join(missing, 'a.log'), '--db', join(dir, 'x.db')]);
      assert.equal(audit.code, 2, audit.stderr);
      assert.match(audit.stderr, /^fsidmap: cannot use --audit-log .*no-such-dir\/a\.log: its directory .*no-such-dir does not exist\n/);
      assert.equal(existsSync(missing), false, 'no directory was made for a mistyped --audit-log');
      assert.equal(existsSync(join(dir, 'b.sock')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops on SIGTERM, removes its socket and logs the stop', async () => {
    assert.ok(existsSync(w.socket));
    await w.stopBroker();
    assert.equal(existsSync(w.socket), false);
    assert.match(w.audit().at(-1)!.reason, /broker stopped/);
    await w.startBroker();
  });
});
