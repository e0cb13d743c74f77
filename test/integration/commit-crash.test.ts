// kill -9 of `fsidmap commit` at random points: after every kill the store
// is consistent (every layer directory whole, every image's layers and
// blobs there, every name pointing at an image, the new name either absent
// or naming the whole new image), the container's writable layer is as it
// was, the dead commit's reservation of the name is taken over, and the
// next commit finishes with the digest an uninterrupted commit gives; gc
// clears what the dead ones left.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startContainer } from '../../src/container/index.js';
import { makeSampleImage } from '../../src/container/sample-image.js';
import { parseMap } from '../../src/idmap/index.js';
import { openImageStore } from '../../src/image/index.js';
import { imageHolds, resolveImage } from '../../src/cli/commands/run-image.js';
import { cleanup, run, tempRoot } from '../support/tar-fixtures.js';
import { treeSum } from './support/layer-fixtures.js';
import { cli, cliPath, mountsUnder } from './support/run-fixtures.js';
import { umociRunSkip } from './support/umoci-run-image.js';

const KILLS = 8;

function assertConsistent(storeRoot: string, newName: string, expected: { digest: string; layers: number }): void {
  const layers = join(storeRoot, 'layers');
  for (const l of readdirSync(layers)) {
    assert.ok(existsSync(join(layers, l, 'layer.json')), `layer ${l} has its layer.json`);
    assert.ok(existsSync(join(layers, l, 'root')), `layer ${l} has its tree`);
  }
  const images = join(storeRoot, 'images');
  for (const f of readdirSync(images).filter((x) => /^[0-9a-f]{64}\.json$/.test(x))) {
    const rec = JSON.parse(readFileSync(join(images, f), 'utf8')) as {
      layers: Array<{ diffId: string; digest: string }>;
      config: { digest: string };
    };
    for (const l of rec.layers) {
      assert.ok(existsSync(join(layers, l.diffId.slice(7), 'layer.json')), `image ${f}: layer ${l.diffId} is there`);
      assert.ok(existsSync(join(storeRoot, 'blobs', 'sha256', l.digest.slice(7))), `image ${f}: blob ${l.digest} is there`);
    }
    assert.ok(existsSync(join(storeRoot, 'blobs', 'sha256', rec.config.digest.slice(7))), `image ${f}: its config is there`);
    assert.ok(existsSync(join(storeRoot, 'blobs', 'sha256', f.slice(0, 64))), `image ${f}: its manifest is there`);
  }
  const names = JSON.parse(readFileSync(join(storeRoot, 'names.json'), 'utf8')) as Record<string, string>;
  for (const [n, d] of Object.entries(names)) assert.ok(existsSync(join(images, `${d.slice(7)}.json`)), `name ${n} points at an image`);
  if (names[newName]) {
    const r = openImageStore({ root: storeRoot }).resolve(newName);
    assert.deepEqual([r.digest, r.layers.length], [expected.digest, expected.layers], 'the new name names the whole new image');
  }
}

function commitChild(
  env: NodeJS.ProcessEnv,
  args: string[],
): { done: Promise<{ code: number | null; signal: string | null; out: string; err: string }>; kill: () => void } {
  const p = spawn(process.execPath, [cliPath, 'commit', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  return {
    done: new Promise((res) => p.on('exit', (code, signal) => res({ code, signal, out, err }))),
    kill: () => p.kill('SIGKILL'),
  };
}

describe('fsidmap commit: kill -9 at random points', { skip: umociRunSkip }, () => {
  let root = '';
  let env: NodeJS.ProcessEnv;
  let storeRoot = '';
  const name = `crash-${process.pid}`;
  before(async () => {
    root = tempRoot('fsidmap-commit-crash');
    env = { ...process.env, FSIDMAP_STATE_DIR: join(root, 'state'), FSIDMAP_RUN_DIR: join(root, 'run') };
    storeRoot = join(root, 'state', 'images');
    // A one-layer image (the sample image's programs, and /vol to mount a volume on) made with umoci.
    const tree = join(root, 'tree');
    mkdirSync(join(tree, 'vol'), { recursive: true });
    makeSampleImage(tree, { offset: 0 });
    run('tar', ['--numeric-owner', '--sort=name', '-C', tree, '-cf', join(root, 'l1.tar'), '.']);
    const layout = join(root, 'oci');
    run('umoci', ['init', '--layout', layout]);
    run('umoci', ['new', '--image', `${layout}:t`]);
    run('umoci', ['raw', 'add-layer', '--image', `${layout}:t`, join(root, 'l1.tar')]);
    await openImageStore({ env }).import(`${layout}:t`, { name: 'base:1' });
    // The container writes 3,000 small files, 24 MiB copied from a volume, deletions and owners: a commit of a few hundred ms.
    const vol = join(root, 'vol');
    mkdirSync(vol);
    writeFileSync(join(vol, 'big'), Buffer.alloc(24 << 20, 7));
    const m = parseMap('0:100000:65536');
    const c = await startContainer(
      {
        name,
        ids: { kind: 'maps', maps: { uid: m, gid: m } },
        fs: { kind: 'none' },
        image: await resolveImage('base:1', env),
        holds: (await imageHolds(env))!,
        volumes: [{ source: vol, target: '/vol', readonly: true, fsidmap: null }],
        command: [
          '/bin/sh',
          '-c',
          'i=0; while [ $i -lt 3000 ]; do mkdir -p /data/d$((i % 30)); echo $i > /data/d$((i % 30))/f$i; i=$((i+1)); done; cat /vol/big > /data/big; chown -R 1000:1000 /data/d7; rm /etc/group',
        ],
      },
      { stdio: ['ignore', 'pipe', 'pipe'], env },
    );
    assert.equal(await c.exited, 0);
  });
  after(() => {
    assert.deepEqual(mountsUnder(root), []);
    cleanup(root);
  });

  it('leaves the store consistent after each kill, and the next commit finishes with the same digest', async () => {
    const upper = join(root, 'state', 'containers', name, 'upper');
    const upperSum = treeSum(upper);
    const t0 = performance.now();
    const clean = await commitChild(env, ['--json', name, 'clean:1']).done;
    const full = performance.now() - t0;
    assert.equal(clean.code, 0, clean.err);
    const expected = { digest: (JSON.parse(clean.out) as { digest: string }).digest, layers: 2 };
    const t1 = performance.now();
    await cli(['commit', '--help']);
    const startup = performance.now() - t1;
    const forget = async () => {
      assert.equal((await cli(['image', 'rm', expected.digest], env as Record<string, string>)).code, 0);
      assert.equal((await cli(['image', 'gc'], env as Record<string, string>)).code, 0);
    };
    await forget();
    let killed = 0;
    for (let i = 0; i < KILLS; i++) {
      const c = commitChild(env, [name, 'c:1']);
      // Spread over the commit's own work: from the end of node's start-up to the end of a whole commit.
      const timer = setTimeout(c.kill, startup + Math.random() * Math.max(1, full - startup));
      const r = await c.done;
      clearTimeout(timer);
      if (r.signal === 'SIGKILL') killed++;
      else assert.equal(r.code, 0, r.err);
      assertConsistent(storeRoot, 'c:1', expected);
      assert.equal(treeSum(upper), upperSum, "the container's writable layer is as it was");
      if (r.signal !== 'SIGKILL') await forget();
    }
    assert.ok(
      killed >= KILLS / 2,
      `only ${killed} of ${KILLS} kills landed before the commit ended (one commit takes ${full.toFixed(0)} ms)`,
    );
    // The dead commits' reservations of the name are stale: the next commit takes them over.
    const last = await commitChild(env, ['--json', name, 'c:1']).done;
    assert.equal(last.code, 0, last.err);
    assert.equal((JSON.parse(last.out) as { digest: string }).digest, expected.digest);
    const gc = JSON.parse((await cli(['image', 'gc', '--json'], env as Record<string, string>)).stdout) as { staging: number };
    assert.deepEqual(readdirSync(join(storeRoot, 'tmp')), [], 'gc cleared what the dead commits left');
    assertConsistent(storeRoot, 'c:1', expected);
    // The container still runs on its own layer.
    const again = await cli(
      ['run', '--name', name, '--idmap', '0:200000:65536', '--', '/bin/sh', '-c', 'cat /data/d7/f7; stat -c %u /data/d7/f7'],
      env as Record<string, string>,
    );
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, '7\n1000\n');
    console.log(
      `# commit crash: ${killed}/${KILLS} commits killed midway (one commit ${full.toFixed(0)} ms, node start-up ${startup.toFixed(0)} ms); gc removed ${gc.staging} abandoned staging dirs`,
    );
  });
});
