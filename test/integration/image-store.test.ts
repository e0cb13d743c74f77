import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openImageStore } from '../../src/image/index.js';
import { cleanup, fsidmap, run, sh, tempRoot } from '../support/tar-fixtures.js';
import { buildUmociImage, treeView, umociSkip, umociUnpack, withOverlay } from './support/oci-fixtures.js';

/**
 * The image store against umoci and skopeo: an image umoci built (three
 * layers, deletions by whiteouts, an opaque directory) is imported; its
 * stored layers stacked by overlayfs (as the runtime mounts them, with
 * userxattr) show exactly the tree `umoci unpack` makes — owners, modes,
 * data, links, devices, xattrs, capabilities, ACLs, deletions.
 */
describe('image store: import against umoci and skopeo', { skip: umociSkip }, () => {
  let root = '';
  let layout = '';
  let want: string[] = [];
  before(() => {
    root = tempRoot('fsidmap-image-store');
    layout = buildUmociImage(join(root, 'build'));
    want = treeView(umociUnpack(layout, 'v1', join(root, 'umoci-bundle')));
  });
  after(() => cleanup(root));

  test('an OCI layout: the stacked layers equal umoci unpack', async () => {
    const store = openImageStore({ root: join(root, 'store-oci') });
    const r = await store.import(`${layout}:v1`, { name: 'fixture:v1' });
    assert.equal(r.ref, 'fixture:v1');
    assert.equal(r.layers.length, 3);
    const img = store.resolve('fixture:v1');
    assert.equal(img.digest, r.digest);
    assert.deepEqual(
      img.layers.map((l) => l.diffId),
      img.imageConfig.rootfs.diff_ids,
    );
    const got = withOverlay(
      img.layers.map((l) => l.path),
      join(root, 'mnt-oci'),
      (m) => treeView(m),
    );
    assert.deepEqual(got, want);
    assert.ok(want.some((l) => l.startsWith('bin/ping f 755 0:0') && l.includes('security.capability')));
    assert.ok(want.some((l) => l.startsWith('home/big f 644 70000:70001')));
    assert.ok(!want.some((l) => l.startsWith('gone') || l.startsWith('opq/keep')), 'whiteouts and the opaque dir hid them');
  });

  test('the layers are stored in overlayfs form: whiteouts are char 0/0, the opaque dir has user.overlay.opaque=y', async () => {
    const store = openImageStore({ root: join(root, 'store-oci') });
    const [, l2, l3] = store.resolve('fixture:v1').layers;
    const wh = statSync(join(l2.path, 'gone'));
    assert.ok(wh.isCharacterDevice());
    assert.equal(wh.rdev, 0);
    const opq = run('getfattr', ['-n', 'user.overlay.opaque', '--only-values', join(l3.path, 'opq')]).toString();
    assert.equal(opq, 'y');
    assert.deepEqual(readdirSync(join(l3.path, 'opq')), ['fresh'], 'the .wh..wh..opq marker itself is not stored');
  });

  test('a docker-archive written by skopeo: same layers, reused, same tree', async () => {
    const archive = join(root, 'img.docker.tar');
    run('skopeo', ['copy', '--quiet', `oci:${layout}:v1`, `docker-archive:${archive}:fixture:v1`]);
    const store = openImageStore({ root: join(root, 'store-oci') });
    const r = await store.import(archive);
    assert.equal(r.kind, 'docker-archive');
    assert.equal(r.ref, 'fixture:v1');
    const oci = store.inspect(store.list().find((i) => i.source.kind === 'oci-layout')!.digest);
    assert.deepEqual(
      r.layers.map((l) => l.diffId),
      oci.layers.map((l) => l.diffId),
    );
    assert.ok(
      r.layers.every((l) => l.reused),
      'the layers were already stored (by diff_id): none unpacked again',
    );
    const img = store.resolve('fixture:v1');
    const got = withOverlay(
      img.layers.map((l) => l.path),
      join(root, 'mnt-docker'),
      (m) => treeView(m),
    );
    assert.deepEqual(got, want);
  });

  test('a docker-archive into an empty store: unpacked from the archive itself', async () => {
    const archive = join(root, 'img.docker.tar');
    const store = openImageStore({ root: join(root, 'store-docker') });
    const r = await store.import(archive, { name: 'd:1' });
    assert.ok(r.layers.every((l) => !l.reused));
    const got = withOverlay(
      store.resolve('d:1').layers.map((l) => l.path),
      join(root, 'mnt-docker2'),
      (m) => treeView(m),
    );
    assert.deepEqual(got, want);
  });

  test('a plain rootfs tar.gz is a one-layer image; the same file gives the same digest', async () => {
    const tgz = join(root, 'rootfs.tar.gz');
    run('sh', [
      '-c',
      `tar --numeric-owner --xattrs --xattrs-include='*' --acls -C '${join(root, 'umoci-bundle', 'rootfs')}' -czf '${tgz}' .`,
    ]);
    const store = openImageStore({ root: join(root, 'store-rootfs') });
    const a = await store.import(tgz);
    assert.equal(a.kind, 'rootfs-tar');
    assert.equal(a.ref, 'rootfs:latest');
    const b = await store.import(tgz, { name: 'again:1' });
    assert.equal(b.digest, a.digest);
    const img = store.resolve('rootfs');
    assert.equal(img.layers.length, 1);
    assert.deepEqual(img.config.Cmd, ['/bin/sh']);
    assert.deepEqual(treeView(img.layers[0].path), want);
    assert.deepEqual(store.resolve('again:1').digest, a.digest);
  });

  test('the CLI: image import --json, image list, image inspect NAME, image rm, image gc', () => {
    const env = { ...process.env, FSIDMAP_STATE_DIR: join(root, 'state') };
    const imp = fsidmap(['image', 'import', `${layout}:v1`, '--name', 'cli:1', '--json'], { env });
    assert.equal(imp.status, 0, imp.stderr);
    const res = JSON.parse(imp.stdout.toString());
    assert.equal(res.ref, 'cli:1');
    assert.match(res.digest, /^sha256:[0-9a-f]{64}$/);
    const list = fsidmap(['image', 'list', '--json'], { env });
    assert.equal(list.status, 0, list.stderr);
    assert.deepEqual(
      JSON.parse(list.stdout.toString()).images.map((i: { names: string[] }) => i.names),
      [['cli:1']],
    );
    const text = fsidmap(['image', 'list'], { env });
    assert.match(text.stdout.toString(), /cli:1/);
    const insp = fsidmap(['image', 'inspect', 'cli:1', '--json'], { env });
    assert.equal(insp.status, 0, insp.stderr);
    const report = JSON.parse(insp.stdout.toString());
    assert.equal(report.layers.length, 3);
    assert.deepEqual(
      report.owners.uids.map((r: { start: number; end: number }) => [r.start, r.end]),
      [
        [0, 1],
        [5, 6],
        [1000, 1001],
        [70000, 70001],
      ],
    );
    const rm = fsidmap(['image', 'rm', 'cli:1'], { env });
    assert.equal(rm.status, 0, rm.stderr);
    const gc = fsidmap(['image', 'gc', '--json'], { env });
    assert.equal(gc.status, 0, gc.stderr);
    assert.equal(JSON.parse(gc.stdout.toString()).layers, 3);
    assert.deepEqual(readdirSync(join(root, 'state', 'images', 'layers')), []);
    const missing = fsidmap(['image', 'inspect', 'cli:1'], { env });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /cli:1 is neither a path nor an image in the store/);
  });

  test('commit: an upper dir (overlay with userxattr) becomes a layer; the export is read by skopeo and unpacked by umoci as the container saw it', async () => {
    const store = openImageStore({ root: join(root, 'store-commit') });
    await store.import(`${layout}:v1`, { name: 'fixture:v1' });
    const img = store.resolve('fixture:v1');
    const c = join(root, 'container');
    mkdirSync(join(c, 'upper'), { recursive: true });
    mkdirSync(join(c, 'work'));
    mkdirSync(join(c, 'merged'));
    const lower = img.layers
      .map((l) => l.path)
      .reverse()
      .join(':');
    run('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `userxattr,lowerdir=${lower},upperdir=${join(c, 'upper')},workdir=${join(c, 'work')}`,
      join(c, 'merged'),
    ]);
    let seen: string[];
    try {
      sh(`set -e; cd '${join(c, 'merged')}'
        rm etc/shadow; rm -rf home/u; mkdir home/u; echo again > home/u/g; chown -R 1000:1000 home/u
        echo edited >> etc/hello; chown 7:7 etc/hello; setfattr -n user.note -v committed etc/hello
        mkdir -p var/lib/app; echo data > var/lib/app/db; chown -R 70000:70000 var/lib/app; ln var/lib/app/db var/lib/app/db2
        ln -s /var/lib/app var/app; chmod 4711 bin/su; rm link-abs`);
      seen = treeView(join(c, 'merged'));
    } finally {
      run('umount', [join(c, 'merged')]);
    }
    assert.ok(statSync(join(c, 'upper', 'etc', 'shadow')).isCharacterDevice(), 'the overlay wrote a whiteout');
    const r = await store.commitLayer(join(c, 'upper'), 'fixture:v1', 'committed:1');
    assert.equal(r.layers.length, 4);
    assert.ok(r.layers.slice(0, 3).every((l) => l.reused));
    assert.ok(r.upper.whiteouts >= 2, `whiteouts: ${r.upper.whiteouts}`);
    assert.equal(r.upper.opaqueDirs, 1);
    const committed = store.resolve('committed:1');
    assert.deepEqual(committed.config, img.config);
    const stacked = withOverlay(
      committed.layers.map((l) => l.path),
      join(root, 'mnt-commit'),
      (m) => treeView(m),
    );
    assert.deepEqual(stacked, seen);
    assert.ok(seen.some((l) => l.startsWith('var/lib/app/db f 644 70000:70000')));
    assert.ok(!seen.some((l) => l.startsWith('etc/shadow') || l.startsWith('home/u/f')));
    // Same upper, same base: same digests.
    const again = await store.commitLayer(join(c, 'upper'), 'fixture:v1', 'committed:2');
    assert.equal(again.digest, r.digest);
    // Export: skopeo reads it, umoci unpacks it to what the container saw.
    const out = join(root, 'exported');
    const e = await store.export('committed:1', out);
    assert.equal(e.tag, '1');
    const inspect = JSON.parse(run('skopeo', ['inspect', `oci:${out}:1`]).toString());
    assert.equal(inspect.Layers.length, 4);
    assert.equal(inspect.Digest, r.digest);
    const raw = JSON.parse(run('skopeo', ['inspect', '--raw', `oci:${out}:1`]).toString());
    assert.equal(raw.layers[3].digest, r.diffId, 'the committed layer is stored uncompressed: its digest is its diff_id');
    const unpacked = umociUnpack(out, '1', join(root, 'umoci-commit'));
    assert.deepEqual(treeView(unpacked), seen);
    // And it imports back into another store to the same digest.
    const other = openImageStore({ root: join(root, 'store-roundtrip') });
    assert.equal((await other.import(`${out}:1`)).digest, r.digest);
  });

  test('references keep layers from gc; without them gc removes what no image uses', async () => {
    const store = openImageStore({ root: join(root, 'store-refs') });
    const r = await store.import(`${layout}:v1`, { name: 'held:1' });
    await store.addReference('held:1', 'container:a');
    await assert.rejects(store.remove(r.digest), { code: 'ERR_IMAGE_IN_USE' });
    const untag = await store.remove('held:1');
    assert.deepEqual(untag.untagged, ['held:1']);
    assert.equal(untag.deleted, undefined, 'held: the record stays');
    assert.equal((await store.gc()).layers, 0);
    await store.removeReference(undefined, 'container:a');
    const del = await store.remove(r.digest);
    assert.equal(del.deleted, r.digest);
    const gc = await store.gc();
    assert.equal(gc.layers, 3);
    assert.equal(gc.blobs, 5);
    assert.deepEqual(readdirSync(join(root, 'store-refs', 'blobs', 'sha256')), []);
    void readFileSync;
  });
});
