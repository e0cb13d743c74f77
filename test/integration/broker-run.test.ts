import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeSampleImage } from '../../src/container/sample-image.js';
import { BrokerWorld, cliPath, rootSkip, sleep, type TestUser } from './support/broker-world.js';

/**
 * `fsidmap run` as an ordinary user, through the broker: two users at
 * once, each running a container from an image in their home stored at
 * their own subordinate range, with the fsid map pointing at it. Each sees
 * its image as owned by 0.. inside, and what it creates lands on disk in its
 * own range. The same command line works as root; without a broker the
 * error says how to start one.
 */
describe('fsidmap run as an ordinary user', { skip: rootSkip }, () => {
  let w: BrokerWorld;
  let a: TestUser, b: TestUser;

  /** The user's container ids: the first 65536 of its range; its image: stored at the next 65536. */
  const ids = (u: TestUser) => `0:${u.sub.start}:65536`;
  const disk = (u: TestUser) => u.sub.start + 65536;
  const image = (u: TestUser) => join(u.home, 'img');

  before(async () => {
    w = await BrokerWorld.create({ users: 2, limits: { default: { requestsPerSecond: 1000, burst: 1000 } } });
    [a, b] = w.users;
    for (const u of w.users) {
      makeSampleImage(image(u), { offset: disk(u) });
      chmodSync(image(u), 0o755);
      mkdirSync(join(image(u), 'ctl'));
      chownSync(join(image(u), 'ctl'), disk(u), disk(u));
      // A volume of the user's, stored at the same range as the image (the container's fsid map applies).
      const ctl = join(u.home, 'ctl');
      mkdirSync(ctl);
      chownSync(ctl, disk(u), disk(u));
      chmodSync(ctl, 0o777);
    }
  });

  after(async () => {
    const left = w ? await w.leftovers() : { mounts: [], processes: [], registry: [] };
    await w?.destroy();
    assert.deepEqual(left, { mounts: [], processes: [], registry: [] }, 'mounts, helper processes or registry entries were left behind');
  });

  const script = [
    'stat -c "%u:%g" / /bin /etc/passwd',
    'id -u',
    'touch /made-by-root',
    'mkdir /d && touch /d/f && chown 7:7 /d/f',
    'touch /ctl/started',
    'n=0; while [ ! -e /ctl/go ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done',
    'ls /ctl',
  ].join('\n');

  function runAs(u: TestUser, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
    return w.runAs(
      u,
      [
        process.execPath,
        cliPath,
        'run',
        '--idmap',
        ids(u),
        '--fsidmap',
        `0:${disk(u)}:65536`,
        '--rootfs',
        image(u),
        '--volume',
        `${join(u.home, 'ctl')}:/ctl`,
        ...extra,
        '--',
        '/bin/sh',
        '-c',
        script,
      ],
      env,
    );
  }

  it('two users run containers at the same time, each on its own image and range', async () => {
    const before = w.audit().length;
    const runs = [runAs(a), runAs(b)];
    // Both containers are up (each touched its /ctl/started) before either is let go.
    for (let i = 0; i < 300 && !(existsSync(join(a.home, 'ctl', 'started')) && existsSync(join(b.home, 'ctl', 'started'))); i++)
      await sleep(50);
    assert.ok(existsSync(join(a.home, 'ctl', 'started')) && existsSync(join(b.home, 'ctl', 'started')), 'both containers ran at once');
    for (const u of w.users) writeFileSync(join(u.home, 'ctl', 'go'), '');
    const [ra, rb] = await Promise.all(runs);
    for (const [u, r] of [
      [a, ra],
      [b, rb],
    ] as const) {
      assert.equal(r.code, 0, `${u.name}: ${r.stderr}`);
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(lines.slice(0, 4), ['0:0', '0:0', '0:0', '0'], `${u.name} sees its image as owned by 0 and runs as 0: ${r.stdout}`);
      assert.ok(lines.includes('go'), `the container saw the test's go: ${r.stdout}`);
      // On disk: the image's range, not the container's ids, not the other user's.
      assert.equal(lstatSync(join(image(u), 'made-by-root')).uid, disk(u));
      assert.equal(lstatSync(join(image(u), 'd', 'f')).uid, disk(u) + 7);
      assert.equal(lstatSync(join(image(u), 'd', 'f')).gid, disk(u) + 7);
      assert.equal(lstatSync(join(u.home, 'ctl', 'started')).uid, disk(u), 'the volume too');
      const mine = w.auditOf(u, before);
      assert.ok(
        mine.some((l) => l.op === 'setmaps' && l.decision === 'allowed'),
        'the broker wrote the maps',
      );
      assert.ok(
        mine.some((l) => l.op === 'mount' && l.decision === 'allowed'),
        'the broker made the rootfs mount',
      );
    }
  });

  it('the same command line works as root', async () => {
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const c = spawn(
        process.execPath,
        [
          cliPath,
          'run',
          '--idmap',
          ids(a),
          '--fsidmap',
          `0:${disk(a)}:65536`,
          '--rootfs',
          image(a),
          '--',
          '/bin/sh',
          '-c',
          'stat -c "%u:%g" / /bin; id -u',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '',
        stderr = '';
      c.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      c.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      c.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['0:0', '0:0', '0']);
  });

  it("takes ranges from the broker's registry with --allocate and --fs, and gives the container's back", async () => {
    const alloc = await w.runAs(a, [process.execPath, cliPath, 'broker', 'alloc', 'shared-img', '--kind', 'image', '--json']);
    assert.equal(alloc.code, 0, alloc.stderr);
    const range = JSON.parse(alloc.stdout).allocation as { uid: { start: number } };
    const img2 = join(a.home, 'img2');
    makeSampleImage(img2, { offset: range.uid.start });
    chmodSync(img2, 0o755);
    const r = await w.runAs(a, [
      process.execPath,
      cliPath,
      'run',
      '--name',
      'web',
      '--allocate',
      '--fs',
      'shared-img',
      '--rootfs',
      img2,
      '--',
      '/bin/sh',
      '-c',
      'stat -c "%u:%g" /bin; touch /x',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '0:0');
    assert.equal(lstatSync(join(img2, 'x')).uid, range.uid.start);
    const list = await w.runAs(a, [process.execPath, cliPath, 'broker', 'list', '--json']);
    assert.deepEqual(
      JSON.parse(list.stdout).allocations.map((x: { name: string }) => x.name),
      ['shared-img'],
      'the container allocation was released on exit',
    );
    const rel = await w.runAs(a, [process.execPath, cliPath, 'broker', 'release', 'shared-img']);
    assert.equal(rel.code, 0, rel.stderr);
  });

  it("runs without an fsid map: the stage binds the user's directories itself, the broker only writes the maps", async () => {
    // An image stored at the container's own ids: seen through the id map, as today's kernel does.
    const plain = join(a.home, 'plain');
    makeSampleImage(plain, { offset: a.sub.start });
    chmodSync(plain, 0o755);
    const vol = join(a.home, 'vol');
    mkdirSync(vol);
    chownSync(vol, a.sub.start, a.sub.start);
    mkdirSync(join(plain, 'vol'));
    chownSync(join(plain, 'vol'), a.sub.start, a.sub.start);
    const before = w.audit().length;
    const r = await w.runAs(a, [
      process.execPath,
      cliPath,
      'run',
      '--idmap',
      ids(a),
      '--rootfs',
      plain,
      '--volume',
      `${vol}:/vol:ro`,
      '--',
      '/bin/sh',
      '-c',
      'stat -c "%u:%g" / /bin; touch /new; touch /vol/x 2>/dev/null && echo vol-writable || echo vol-readonly',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['0:0', '0:0', 'vol-readonly']);
    assert.equal(lstatSync(join(plain, 'new')).uid, a.sub.start);
    assert.deepEqual(
      w.auditOf(a, before).map((l) => l.op),
      ['setmaps'],
      'no mount was asked of the broker',
    );
  });

  it("refuses, through the broker, an fsid map pointing at another user's range", async () => {
    // A directory in A's home that root stored at B's range: A's client checks pass, the broker refuses.
    const theirs = join(a.home, 'theirs');
    makeSampleImage(theirs, { offset: disk(b) });
    chmodSync(theirs, 0o755);
    const before = w.audit().length;
    const r = await w.runAs(a, [
      process.execPath,
      cliPath,
      'run',
      '--idmap',
      ids(a),
      '--fsidmap',
      `0:${disk(b)}:65536`,
      '--rootfs',
      theirs,
      '--',
      '/bin/sh',
      '-c',
      'true',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not yours/);
    const refused = w.auditOf(a, before).filter((l) => l.decision === 'refused');
    assert.equal(refused.length, 1);
    assert.equal(refused[0].code, 'ERR_BROKER_IDS_NOT_OWNED');
  });

  it('says how to start a broker when none is running', async () => {
    const r = await w.runAs(
      a,
      [process.execPath, cliPath, 'run', '--idmap', ids(a), '--fsidmap', `0:${disk(a)}:65536`, '--rootfs', image(a), '--', '/bin/true'],
      { FSIDMAP_BROKER_SOCKET: join(w.base, 'run', 'nobody-listens.sock') },
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no fsidmap broker is listening/);
    assert.match(r.stderr, /systemctl enable --now fsidmap-broker\.socket/);
    assert.match(r.stderr, /sudo fsidmap broker|as root/);
  });
});
