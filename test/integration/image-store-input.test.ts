import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { openImageStore } from '../../src/image/index.js';
import { buildArchive } from '../support/tar-builder.js';
import { cleanup, tempRoot } from '../support/tar-fixtures.js';
import { buildUmociImage, storeState, umociSkip, writeHandLayout } from './support/oci-fixtures.js';

/**
 * Bad input to `image import`: each is refused with its own code and a
 * message naming what is wrong, before anything in the store changes (the
 * store already holds an image; its files are compared before and after).
 */
describe('image store: bad input is refused and the store is unchanged', { skip: umociSkip }, () => {
  let root = '';
  let storeRoot = '';
  let layout = '';
  let before_: string[] = [];
  const good = buildArchive([
    { path: 'etc/', type: 'dir', uid: 0, gid: 0, mode: 0o755 },
    { path: 'etc/ok', uid: 0, gid: 0, data: Buffer.from('ok\n') },
  ]);
  before(async () => {
    root = tempRoot('fsidmap-image-input');
    layout = buildUmociImage(join(root, 'build'));
    storeRoot = join(root, 'store');
    // An image of its own, not the umoci one: a blob the store already holds is never read again, so the bad copies below must be new to it.
    await openImageStore({ root: storeRoot }).import(writeHandLayout(join(root, 'base'), [{ tar: good, gzip: true }]), { name: 'base:1' });
    before_ = storeState(storeRoot);
  });
  after(() => cleanup(root));

  const refused = async (name: string, source: string, code: string, message: RegExp) => {
    const store = openImageStore({ root: storeRoot });
    await assert.rejects(store.import(source, { name: 'bad:1' }), (e: { code: string; message: string }) => {
      assert.equal(e.code, code, e.message);
      assert.match(e.message, message);
      return true;
    });
    assert.deepEqual(storeState(storeRoot), before_, `${name}: the store changed`);
    assert.deepEqual(readdirSync(join(storeRoot, 'tmp')), [], `${name}: staging left behind`);
  };

  const copyLayout = (name: string): { dir: string; manifest: { layers: Array<{ digest: string }> } } => {
    const dir = join(root, name);
    cpSync(layout, dir, { recursive: true });
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
    const m = JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    return { dir, manifest: m };
  };

  test('a layer blob whose bytes do not match its digest', async () => {
    const { dir, manifest } = copyLayout('corrupt');
    const p = join(dir, 'blobs', 'sha256', manifest.layers[1].digest.slice(7));
    const b = readFileSync(p);
    b[b.length - 12] ^= 0xff; // in the gzip trailer's CRC: the data still inflates, the digest is wrong
    writeFileSync(p, b);
    // zlib checks the CRC before the stream ends, so this one is found as corrupt gzip, before the digest is complete.
    await refused('corrupt crc', `${dir}:v1`, 'ERR_IMAGE_LAYER_CORRUPT', /layer 2 of 3.*gzip data is corrupt/);
    const { dir: dir2, manifest: m2 } = copyLayout('corrupt-tail');
    const p2 = join(dir2, 'blobs', 'sha256', m2.layers[0].digest.slice(7));
    writeFileSync(p2, Buffer.concat([readFileSync(p2), Buffer.from([0])]));
    await refused('a byte more', `${dir2}:v1`, 'ERR_IMAGE_DIGEST_MISMATCH', /layer 1 of 3.*size is/);
  });

  test('a blob whose digest is wrong although the data is whole', async () => {
    const dir = writeHandLayout(join(root, 'wrong-diffid'), [{ tar: good, gzip: true, diffId: `sha256:${'ab'.repeat(32)}` }]);
    await refused('wrong diff_id', dir, 'ERR_IMAGE_DIGEST_MISMATCH', /diff_id/);
    const swapped = writeHandLayout(join(root, 'swapped'), [{ tar: good }]);
    const blobs = join(swapped, 'blobs', 'sha256');
    const layerHex = readdirSync(blobs).find((h) => readFileSync(join(blobs, h)).length === good.length)!;
    writeFileSync(join(blobs, layerHex), Buffer.concat([good.subarray(0, good.length - 1024), Buffer.alloc(1024, 0)]).fill(1, 600, 601));
    await refused('swapped bytes', swapped, 'ERR_IMAGE_DIGEST_MISMATCH', /digest/);
  });

  test('a manifest naming a missing blob', async () => {
    const { dir, manifest } = copyLayout('missing');
    rmSync(join(dir, 'blobs', 'sha256', manifest.layers[2].digest.slice(7)));
    await refused('missing', `${dir}:v1`, 'ERR_IMAGE_BLOB_MISSING', /does not exist/);
  });

  test('entries with ".." or an absolute path, links leading out of the layer, writes through a symlink', async () => {
    const cases: Array<[string, Parameters<typeof buildArchive>[0], RegExp]> = [
      ['dotdot', [{ path: '../escape', uid: 0, gid: 0, data: Buffer.from('x') }], /"\.\." component/],
      ['dotdot-inner', [{ path: 'etc/../../escape', uid: 0, gid: 0, data: Buffer.from('x') }], /"\.\." component/],
      ['absolute', [{ path: '/etc/passwd', uid: 0, gid: 0, data: Buffer.from('x') }], /absolute/],
      ['hardlink-out', [{ path: 'h', type: 'hardlink', uid: 0, gid: 0, linkname: '../../etc/shadow' }], /hard link target/],
      ['hardlink-abs', [{ path: 'h', type: 'hardlink', uid: 0, gid: 0, linkname: '/etc/shadow' }], /absolute/],
      [
        'through-symlink',
        [
          { path: 'evil', type: 'symlink', uid: 0, gid: 0, linkname: join(root, 'outside') },
          { path: 'evil/planted', uid: 0, gid: 0, data: Buffer.from('x') },
        ],
        /leaves the target directory/,
      ],
      [
        'hardlink-via-symlink',
        [
          { path: 'evil', type: 'symlink', uid: 0, gid: 0, linkname: '/etc' },
          { path: 'h', type: 'hardlink', uid: 0, gid: 0, linkname: 'evil/shadow' },
        ],
        /leaves the target directory/,
      ],
    ];
    for (const [name, entries, message] of cases) {
      const dir = writeHandLayout(join(root, name), [{ tar: good }, { tar: buildArchive(entries), gzip: true }]);
      await refused(name, dir, 'ERR_IMAGE_LAYER_UNSAFE', message);
    }
    assert.ok(!existsSync(join(root, 'outside', 'planted')));
  });

  test('truncated gzip', async () => {
    const gz = gzipSync(Buffer.concat([good, Buffer.alloc(64 << 10, 7)]));
    const dir = writeHandLayout(join(root, 'truncated'), [{ tar: good, gzip: true, blob: gz.subarray(0, gz.length >> 1) }]);
    await refused('truncated', dir, 'ERR_IMAGE_LAYER_CORRUPT', /gzip data is corrupt or truncated/);
  });

  test('an unknown or unsupported media type', async () => {
    const dir = writeHandLayout(join(root, 'media'), [{ tar: good, mediaType: 'application/x-squashfs' }]);
    await refused('media type', dir, 'ERR_IMAGE_MEDIA_TYPE', /application\/x-squashfs/);
    const zstd = writeHandLayout(join(root, 'zstd'), [{ tar: good, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' }]);
    await refused('zstd', zstd, 'ERR_IMAGE_MEDIA_TYPE', /zstd/);
  });

  test('not an image at all, and a tag the layout does not have', async () => {
    const notTar = join(root, 'not.tar');
    writeFileSync(notTar, Buffer.alloc(4096, 0x41));
    await refused('not tar', notTar, 'ERR_IMAGE_SOURCE_KIND', /not an image: neither a docker-archive nor a rootfs tar/);
    const notGz = join(root, 'not.tar.gz');
    writeFileSync(notGz, gzipSync(Buffer.alloc(4096, 0x41)));
    await refused('not tar.gz', notGz, 'ERR_IMAGE_LAYER_CORRUPT', /rootfs not\.tar\.gz.*not a valid tar header/);
    await refused('no tag', `${layout}:nope`, 'ERR_IMAGE_NOT_FOUND', /no manifest tagged/);
  });

  test('the store still serves its image', () => {
    const img = openImageStore({ root: storeRoot }).resolve('base:1');
    assert.equal(img.layers.length, 1);
  });
});
