import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openImageStore } from '../../src/image/index.js';
import { cleanup, run, tempRoot } from '../support/tar-fixtures.js';
import { treeView, umociSkip, writeHandLayout } from './support/oci-fixtures.js';

/**
 * kill -9 of an import at random points, and two imports sharing layers at
 * once. After every kill the store is consistent (every layer directory
 * whole, every image's layers and blobs there, every name pointing at an
 * image); the next import finishes the job and gc clears what the dead one
 * left; the layers are the same as a clean import's.
 */
const KILLS = 6;
const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'support', 'image-import-child.js');

function child(
  store: string,
  source: string,
  name: string,
): { done: Promise<{ code: number | null; signal: string | null; out: string; err: string }>; kill: () => void } {
  const p = spawn(process.execPath, [CHILD, store, source, name], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  return {
    done: new Promise((res) => p.on('exit', (code, signal) => res({ code, signal, out, err }))),
    kill: () => p.kill('SIGKILL'),
  };
}

function tarOf(dir: string, files: number, seed: number, bigMiB = 0): Buffer {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < files; i++) {
    const d = join(dir, `d${i % 50}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `f${seed}-${i}`), `file ${seed} ${i}\n`.repeat(1 + (i % 7)));
  }
  if (bigMiB > 0) writeFileSync(join(dir, `big${seed}`), Buffer.alloc(bigMiB << 20, seed));
  run('chown', ['-R', `${seed}:${seed}`, dir]);
  return run('tar', ['--numeric-owner', '--sort=name', '--mtime=@1700000000', '-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 30 });
}

function assertConsistent(storeRoot: string): void {
  const layers = join(storeRoot, 'layers');
  if (!existsSync(layers)) return;
  for (const l of readdirSync(layers)) {
    assert.ok(existsSync(join(layers, l, 'layer.json')), `layer ${l} has its layer.json`);
    assert.ok(existsSync(join(layers, l, 'root')), `layer ${l} has its tree`);
  }
  const images = join(storeRoot, 'images');
  for (const f of existsSync(images) ? readdirSync(images).filter((x) => /^[0-9a-f]{64}\.json$/.test(x)) : []) {
    const rec = JSON.parse(readFileSync(join(images, f), 'utf8')) as {
      layers: Array<{ diffId: string; digest: string }>;
      config: { digest: string };
    };
    for (const l of rec.layers) {
      assert.ok(existsSync(join(layers, l.diffId.slice(7), 'layer.json')), `image ${f}: layer ${l.diffId} is there`);
      assert.ok(existsSync(join(storeRoot, 'blobs', 'sha256', l.digest.slice(7))), `image ${f}: blob ${l.digest} is there`);
    }
    assert.ok(existsSync(join(storeRoot, 'blobs', 'sha256', rec.config.digest.slice(7))));
  }
  const names = join(storeRoot, 'names.json');
  if (existsSync(names))
    for (const [n, d] of Object.entries(JSON.parse(readFileSync(names, 'utf8')) as Record<string, string>))
      assert.ok(existsSync(join(images, `${d.slice(7)}.json`)), `name ${n} points at an image`);
}

describe('image store: kill -9 and concurrent imports', { skip: umociSkip }, () => {
  let root = '';
  let a = '';
  let b = '';
  before(() => {
    root = tempRoot('fsidmap-image-crash');
    const l1 = tarOf(join(root, 't1'), 1500, 11, 16);
    const l2 = tarOf(join(root, 't2'), 1000, 12);
    const l3 = tarOf(join(root, 't3'), 500, 13, 4);
    a = writeHandLayout(join(root, 'a'), [
      { tar: l1, gzip: true },
      { tar: l2, gzip: true },
    ]);
    b = writeHandLayout(join(root, 'b'), [{ tar: l1, gzip: true }, { tar: l2, gzip: true }, { tar: l3 }]);
  });
  after(() => cleanup(root));

  test('kill -9 at random points of an import: the store stays consistent and the next import finishes', async () => {
    const storeRoot = join(root, 'store-crash');
    const t0 = performance.now();
    const clean = await child(join(root, 'store-clean'), b, 'b:1').done;
    assert.equal(clean.code, 0, clean.err);
    const full = performance.now() - t0;
    let killedMidway = 0;
    for (let i = 0; i < KILLS; i++) {
      const c = child(storeRoot, b, 'b:1');
      const timer = setTimeout(c.kill, Math.random() * full);
      const r = await c.done;
      clearTimeout(timer);
      if (r.signal === 'SIGKILL') killedMidway++;
      else assert.equal(r.code, 0, r.err);
      assertConsistent(storeRoot);
      // A finished import is never half there: either the name resolves to the whole image or it is absent.
      const names = join(storeRoot, 'names.json');
      if (existsSync(names) && (JSON.parse(readFileSync(names, 'utf8')) as Record<string, string>)['b:1'])
        assert.equal(openImageStore({ root: storeRoot }).resolve('b:1').layers.length, 3);
      if (r.signal !== 'SIGKILL') rmSync_(storeRoot);
    }
    assert.ok(
      killedMidway >= 3,
      `only ${killedMidway} of 10 kills landed before the import ended (one import takes ${full.toFixed(0)} ms)`,
    );
    const store = openImageStore({ root: storeRoot });
    const r = await store.import(b, { name: 'b:1' });
    assert.equal(r.layers.length, 3);
    const gc = await store.gc();
    assert.deepEqual(readdirSync(join(storeRoot, 'tmp')), [], `gc cleared the staging (${gc.staging} abandoned)`);
    assertConsistent(storeRoot);
    const ref = openImageStore({ root: join(root, 'store-clean') }).resolve('b:1');
    const got = store.resolve('b:1');
    assert.equal(got.digest, ref.digest);
    for (let i = 0; i < 3; i++) assert.deepEqual(treeView(got.layers[i].path), treeView(ref.layers[i].path));
    console.log(
      `# crash: ${killedMidway}/${KILLS} imports killed midway (one import ${full.toFixed(0)} ms); gc removed ${gc.staging} abandoned staging dirs`,
    );
  });

  test('two imports sharing layers at once: both succeed, each layer stored once', async () => {
    const storeRoot = join(root, 'store-race');
    for (let round = 0; round < 2; round++) {
      rmSync_(storeRoot);
      const [ra, rb] = await Promise.all([child(storeRoot, a, 'a:1').done, child(storeRoot, b, 'b:1').done]);
      assert.equal(ra.code, 0, ra.err);
      assert.equal(rb.code, 0, rb.err);
      assertConsistent(storeRoot);
      assert.equal(readdirSync(join(storeRoot, 'layers')).length, 3);
      assert.deepEqual(readdirSync(join(storeRoot, 'tmp')), []);
      const store = openImageStore({ root: storeRoot });
      assert.deepEqual(
        store.resolve('a:1').layers.map((l) => l.path),
        store
          .resolve('b:1')
          .layers.slice(0, 2)
          .map((l) => l.path),
      );
    }
  });
});

function rmSync_(dir: string): void {
  run('rm', ['-rf', dir]);
}
