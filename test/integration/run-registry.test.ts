// fsidmap run --allocate / --fs with the allocator's registry (SQLite): the
// seed's "distinct, random ranges of 65536 for each container" over one
// image whose on-disk range the registry also hands out.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  cli,
  cliPath,
  makeToyImage,
  marker,
  mountsUnder,
  processesMapping,
  processesWith,
  rootSkip,
  tempDir,
  until,
} from './support/run-fixtures.js';

interface Alloc {
  name: string;
  kind: string;
  uid: { start: number; count: number };
  gid: { start: number; count: number };
  fs: string | null;
  holder?: { pid: number } | null;
}

describe('fsidmap run with ranges from the registry', { skip: rootSkip }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let env: NodeJS.ProcessEnv;
  let image: string;
  let img: Alloc;
  before(async () => {
    tmp = tempDir('registry');
    env = { FSIDMAP_DB: join(tmp.dir, 'registry.db'), FSIDMAP_RUN_DIR: join(tmp.dir, 'run') };
    const r = await cli(['alloc', 'img', '--kind', 'image', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    img = JSON.parse(r.stdout) as Alloc;
    image = join(tmp.dir, 'image');
    mkdirSync(image);
    makeToyImage(image, img.uid.start);
  });
  after(() => {
    assert.deepEqual(mountsUnder(tmp.dir), []);
    tmp.remove();
  });
  const list = async () => JSON.parse((await cli(['list', '--json'], env)).stdout) as Alloc[];

  it("gives two containers distinct ranges from the registry, both on the image's on-disk range, and releases them on exit", async () => {
    const tag = marker('alloc');
    const start = (who: string) => {
      const child = spawn(
        process.execPath,
        [
          cliPath,
          'run',
          '--name',
          `${tag}-${who}`,
          '--allocate',
          '--fs',
          'img',
          '--rootfs',
          image,
          '--',
          '/bin/sh',
          '-c',
          `cat /proc/self/uid_map; id -u; echo made > /data/by-${who}; stat -c '%u:%g' /data/by-${who}; echo ready; read wait; : ${tag}`,
        ],
        { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let out = '',
        err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        err += d;
      });
      const done = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
      return { child, done, out: () => out, err: () => err };
    };
    const a = start('a'),
      b = start('b');
    await until('both containers to run', () => a.out().includes('ready') && b.out().includes('ready'), 20000);
    const running = await list();
    const ca = running.find((x) => x.name === `${tag}-a`)!,
      cb = running.find((x) => x.name === `${tag}-b`)!;
    assert.ok(ca && cb, 'both allocations are in the registry while they run');
    assert.notEqual(ca.uid.start, cb.uid.start, 'distinct ranges');
    assert.equal(ca.fs, 'img');
    assert.equal(ca.holder?.pid, a.child.pid, 'the fsidmap process is the recorded holder');
    // The image's range cannot be released while containers use it.
    assert.equal((await cli(['release', 'img'], env)).code, 1);
    for (const [c, alloc] of [
      [a, ca],
      [b, cb],
    ] as const) {
      const [map, uid, owner] = c.out().split('\n');
      assert.equal(map.trim().split(/\s+/).join(' '), `0 ${alloc.uid.start} 65536`, "the container's uid map is its allocation");
      assert.equal(uid, '0');
      assert.equal(owner, '0:0', 'the image shows as its own');
      c.child.stdin.end('\n');
    }
    assert.deepEqual([await a.done, await b.done], [0, 0]);
    for (const who of ['a', 'b']) {
      const st = lstatSync(join(image, 'data', `by-${who}`));
      assert.deepEqual([st.uid, st.gid], [img.uid.start, img.gid.start], "files land in the image's on-disk range");
    }
    const after = await list();
    assert.deepEqual(
      after.filter((x) => x.name.startsWith(tag)),
      [],
      'container ranges released on exit',
    );
    assert.ok(
      after.some((x) => x.name === 'img'),
      'the image range stays',
    );
    assert.deepEqual(processesWith(tag), []);
  });

  it('a container whose fsidmap was SIGKILLed keeps its range until the name is run again (the dead holder is taken over)', async () => {
    const tag = marker('dead');
    const child = spawn(
      process.execPath,
      [
        cliPath,
        'run',
        '--name',
        tag,
        '--allocate',
        '--fs',
        'img',
        '--rootfs',
        image,
        '--',
        '/bin/sh',
        '-c',
        `echo ready; sleep 1000; : ${tag}`,
      ],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    await until('the container to run', () => out.includes('ready'), 20000);
    const first = (await list()).find((x) => x.name === tag)!;
    child.kill('SIGKILL');
    await until('the container to die with fsidmap', () => processesWith(tag).length === 0);
    // Its orphaned stage processes hold the range until init reaps them; only then may the next run free it.
    await until('the orphans of the container to be reaped', () => processesMapping(first.uid.start).length === 0, 30000);
    assert.ok(
      (await list()).some((x) => x.name === tag),
      'the allocation is left with a dead holder',
    );
    const again = await cli(
      ['run', '--name', tag, '--allocate', '--fs', 'img', '--rootfs', image, '--', '/bin/sh', '-c', 'cat /proc/self/uid_map'],
      env,
    );
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim().split(/\s+/).join(' '), `0 ${first.uid.start} 65536`, 'same name, same range');
    const left = (await list()).filter((x) => x.name === tag);
    assert.deepEqual(left, [], 'released after the second run');
  });

  it('refuses --fs naming an allocation that does not exist, and makes nothing', async () => {
    const tag = marker('nofs');
    const r = await cli(['run', '--name', tag, '--allocate', '--fs', 'no-such-image', '--rootfs', image, '--', '/bin/true'], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no image or volume "no-such-image"/);
    assert.ok(!(await list()).some((x) => x.name === tag));
    assert.deepEqual(processesWith(tag), []);
  });
});
