// run --image on an image built by Debian's umoci and imported into the
// store: what a container sees equals `umoci unpack`; two containers in
// different ranges at once each see only their own writes and deletions,
// the stored layers unchanged; commit → image export is read by skopeo and
// unpacked by umoci to exactly what the container saw; a named container
// holds its image against rm and gc, and restarts with --allocate in a
// fresh range still owning its files (unshifted on disk).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Container, type RunSpec, savedPaths, startContainer } from '../../src/container/index.js';
import { parseMap } from '../../src/idmap/index.js';
import { openImageStore } from '../../src/image/index.js';
import { imageHolds, resolveImage } from '../../src/cli/commands/run-image.js';
import { cleanup, run, sh, tempRoot } from '../support/tar-fixtures.js';
import { treeSum } from './support/layer-fixtures.js';
import { cli, marker, mountsUnder, processesWith, until } from './support/run-fixtures.js';
import { LIST_SCRIPT, buildRunnableUmociImage, listHostTree, normalizeListing, umociRunSkip } from './support/umoci-run-image.js';

const pair = (spec: string) => {
  const m = parseMap(spec);
  return { uid: m, gid: m };
};

/** The same changes made in a container (from /) and on the host to a copy of the unpacked image (from its root). */
// (A hard-linked file of the image is neither changed nor deleted: overlayfs without index=on breaks the link on copy-up.)
const CHANGES_A = `echo a > root/by-a; rm etc/shadow; rm -r opq; mkdir opq; echo n > opq/n
mkdir -p srv/a; echo x > srv/a/f; chown 1000:1001 srv/a/f; ln srv/a/f srv/a/hard; setfattr -n user.a -v 1 srv/a/f
rm link-rel; ln -s /nowhere link-rel; chmod 600 home/u/f; chown 70:70 new`;
const CHANGES_B = 'echo b > root/by-b; rm srv/seventy; rm -r home/u; echo b >> new';

/** A container's output as it comes (the tests wait for a line before they go on). */
function watch(c: Container): { out: () => string; err: () => string; done: Promise<number> } {
  let out = '',
    err = '';
  c.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  c.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  return { out: () => out, err: () => err, done: c.exited };
}

/** Listing of a copy of the unpacked image after the changes, made on the host with the host's tools. */
function expectedAfter(unpacked: string, changes: string, copy: string): string[] {
  run('cp', ['-a', unpacked, copy]);
  sh(`cd '${copy}' && ${changes}`);
  return listHostTree(copy);
}

describe('run --image over a umoci-built image', { skip: umociRunSkip }, () => {
  let root = '';
  let env: NodeJS.ProcessEnv;
  let cenv: Record<string, string>;
  let layout = '';
  let unpacked = '';
  let viewOfA: string[] = [];
  let nameA = '';
  let nameB = '';
  const started: Container[] = [];
  before(async () => {
    root = tempRoot('fsidmap-run-umoci');
    env = { ...process.env, FSIDMAP_STATE_DIR: join(root, 'state'), FSIDMAP_RUN_DIR: join(root, 'run') };
    cenv = { FSIDMAP_STATE_DIR: env.FSIDMAP_STATE_DIR!, FSIDMAP_RUN_DIR: env.FSIDMAP_RUN_DIR!, FSIDMAP_DB: join(root, 'ranges.db') };
    layout = buildRunnableUmociImage(join(root, 'img'));
    const imp = await cli(['image', 'import', '--json', '--name', 'umo:v1', `${layout}:v1`], cenv);
    assert.equal(imp.code, 0, imp.stderr);
    run('umoci', ['unpack', '--image', `${layout}:v1`, join(root, 'bundle')]);
    unpacked = join(root, 'bundle', 'rootfs');
  });
  after(async () => {
    await Promise.all(started.splice(0).map((c) => c.kill()));
    assert.deepEqual(mountsUnder(root), []);
    cleanup(root);
  });
  const spec = async (name: string | undefined, idmap: string, script: string): Promise<RunSpec> => ({
    ...(name !== undefined ? { name } : {}),
    ids: { kind: 'maps', maps: pair(idmap) },
    fs: { kind: 'none' },
    image: await resolveImage('umo:v1', env),
    holds: (await imageHolds(env))!,
    command: ['/bin/sh', '-c', script],
  });
  const start = async (s: RunSpec) => {
    const c = await startContainer(s, { stdio: ['pipe', 'pipe', 'pipe'], env });
    started.push(c);
    return c;
  };

  it('a container sees exactly what umoci unpack of the same image holds (owners, modes, contents, links, xattrs, whiteouts, opaque dirs)', async () => {
    const expected = listHostTree(unpacked);
    // The fixture has what the comparison is about.
    for (const want of [
      /^etc\/shadow f 640 0:42$/,
      /^srv\/su f 4755 0:0$/,
      /^srv\/setgid d 2775 0:50$/,
      /^link-abs l 777 0:0 -> \/etc\/hello$/,
      /^hard f 644 0:0 links=2 group=etc\/hello$/,
      /^xattr etc\/hello user\.note=0x6c6179657232$/,
      /^xattr srv\/ping security\.capability=/,
      /^xattr etc\/acl system\.posix_acl_access=/,
      /^opq\/fresh f/,
      /^srv\/null c 666 0:0$/,
    ])
      assert.ok(
        expected.some((l) => want.test(l)),
        `umoci's unpack has ${want}`,
      );
    for (const gone of [/^gone /, /^gone-dir/, /^opq\/keep/, /^opq\/sub/])
      assert.ok(!expected.some((l) => gone.test(l)), `deleted: ${gone}`);
    const c = watch(await start(await spec(undefined, '0:100000:65536', `cd / && ${LIST_SCRIPT}`)));
    assert.equal(await c.done, 0, c.err());
    assert.deepEqual(normalizeListing(c.out()), expected);
  });

  it('two containers in different ranges at once: each sees only its own writes and deletions; the stored layers are unchanged', async () => {
    const tag = marker('two');
    const layers = openImageStore({ env })
      .resolve('umo:v1')
      .layers.map((l) => l.path);
    const sums = layers.map(treeSum);
    const script = (changes: string) => `cd / && { ${changes.replace(/\n/g, '; ')}; } && echo ready && read go && ${LIST_SCRIPT}; : ${tag}`;
    // Later tests commit them.
    nameA = `${tag}-A`;
    nameB = `${tag}-B`;
    const a = watch(await start(await spec(`${tag}-A`, '0:100000:65536', script(CHANGES_A))));
    const b = watch(await start(await spec(`${tag}-B`, '0:300000:65536', script(CHANGES_B))));
    await until('both made their changes', () => a.out().includes('ready') && b.out().includes('ready'), 30000);
    for (const c of started.slice(-2)) c.stdin!.end('\n');
    assert.equal(await a.done, 0, a.err());
    assert.equal(await b.done, 0, b.err());
    viewOfA = normalizeListing(a.out().slice(a.out().indexOf('ready')));
    const viewOfB = normalizeListing(b.out().slice(b.out().indexOf('ready')));
    assert.deepEqual(viewOfA, expectedAfter(unpacked, CHANGES_A, join(root, 'copy-a')));
    assert.deepEqual(viewOfB, expectedAfter(unpacked, CHANGES_B, join(root, 'copy-b')));
    assert.ok(!viewOfB.some((l) => l.startsWith('root/by-a')) && viewOfB.some((l) => l.startsWith('opq/fresh')), "A's changes are not B's");
    assert.ok(
      viewOfA.some((l) => l.startsWith('srv/seventy')) && !viewOfA.some((l) => l.startsWith('root/by-b')),
      "B's changes are not A's",
    );
    // From the host: each writable layer holds the image's ids, whatever the range; deletions are whiteouts there.
    const upperA = savedPaths(`${tag}-A`, env).upper;
    const f = lstatSync(join(upperA, 'srv/a/f'));
    assert.deepEqual([f.uid, f.gid, f.nlink], [1000, 1001, 2]);
    const wh = lstatSync(join(upperA, 'etc/shadow'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'a deletion is a whiteout in its own layer');
    const upperB = savedPaths(`${tag}-B`, env).upper;
    assert.deepEqual(readdirSync(join(upperB, 'root')), ['by-b']);
    assert.deepEqual([lstatSync(join(upperB, 'root/by-b')).uid, lstatSync(join(upperB, 'new')).gid], [0, 0]);
    assert.deepEqual(layers.map(treeSum), sums, 'the stored layers are byte for byte as before');
    await until('no process left', () => processesWith(tag).length === 0);
  });

  it('commit → image export: skopeo inspects it, umoci unpacks exactly what the container saw; same changes, same digest', async () => {
    assert.ok(viewOfA.length > 0, 'the container test ran');
    const c1 = await cli(['commit', '--json', '--message', 'from A', nameA, 'umo:a'], cenv);
    assert.equal(c1.code, 0, c1.stderr);
    const r1 = JSON.parse(c1.stdout) as { digest: string; diffId: string; base: string; upper: { whiteouts: number; opaqueDirs: number } };
    assert.ok(r1.upper.whiteouts === 1 && r1.upper.opaqueDirs === 1, JSON.stringify(r1.upper));
    const again = JSON.parse((await cli(['commit', '--json', '--message', 'from A', nameA, 'umo:a-again'], cenv)).stdout) as {
      digest: string;
      diffId: string;
    };
    assert.deepEqual([again.diffId, again.digest], [r1.diffId, r1.digest], 'the same upper over the same image: the same digests');
    // Run once more in another range, changing nothing: the commit does not depend on the range.
    const rerun = await cli(['run', '--name', nameA, '--idmap', '0:500000:65536', '--', '/bin/sh', '-c', 'stat -c %u:%g /srv/a/f'], cenv);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.equal(rerun.stdout, '1000:1001\n');
    const third = JSON.parse((await cli(['commit', '--json', '--message', 'from A', nameA], cenv)).stdout) as { digest: string };
    assert.equal(third.digest, r1.digest, 'committed after a run in 500000+: the same digest');
    const exp = join(root, 'export');
    const e = await cli(['image', 'export', 'umo:a', exp], cenv);
    assert.equal(e.code, 0, e.stderr);
    const inspect = JSON.parse(run('skopeo', ['inspect', `oci:${exp}:a`]).toString('utf8')) as { Digest: string; Layers: string[] };
    assert.equal(inspect.Digest, r1.digest);
    assert.equal(inspect.Layers.length, 4);
    assert.equal(inspect.Layers[3], r1.diffId, 'the committed layer is stored uncompressed: its digest is its diff_id');
    const cfg = JSON.parse(run('skopeo', ['inspect', '--config', `oci:${exp}:a`]).toString('utf8')) as {
      history: Array<{ created_by?: string }>;
    };
    assert.equal(cfg.history.at(-1)?.created_by, 'fsidmap commit: from A');
    run('umoci', ['unpack', '--image', `${exp}:a`, join(root, 'bundle-a')]);
    assert.deepEqual(listHostTree(join(root, 'bundle-a', 'rootfs')), viewOfA);
    // skopeo copies it on (it reads every blob and checks its digest).
    run('skopeo', ['copy', `oci:${exp}:a`, `oci:${join(root, 'copied')}:a`]);
    // The exported image imports back to the same digest.
    const back = await cli(['image', 'import', '--json', '--store', join(root, 'store2'), `${exp}:a`], cenv);
    assert.equal(back.code, 0, back.stderr);
    assert.equal((JSON.parse(back.stdout) as { digest: string }).digest, r1.digest);
  });

  it('commit refuses a running container and one whose image is gone, and changes nothing then', async () => {
    const tag = marker('refuse');
    const c = await start(await spec(`${tag}-run`, '0:100000:65536', `echo up; read go; : ${tag}`));
    const w = watch(c);
    await until('it runs', () => w.out().includes('up'));
    const before = openImageStore({ env }).list().length;
    const busy = await cli(['commit', '--json', `${tag}-run`, 'umo:busy'], cenv);
    assert.equal(busy.code, 1);
    assert.equal((JSON.parse(busy.stderr) as { error: { code: string } }).error.code, 'ERR_CONTAINER_RUNNING');
    c.stdin!.end('\n');
    assert.equal(await w.done, 0);
    // A library caller's container that holds nothing, on an image whose last name is then removed.
    const image = await resolveImage('umo:a', env);
    const orphan = await startContainer(
      {
        name: `${tag}-orphan`,
        ids: { kind: 'maps', maps: pair('0:100000:65536') },
        fs: { kind: 'none' },
        image,
        command: ['/bin/sh', '-c', 'echo o > /root/o'],
      },
      { stdio: ['ignore', 'pipe', 'pipe'], env },
    );
    assert.equal(await orphan.exited, 0);
    for (const n of ['umo:a', 'umo:a-again']) assert.equal((await cli(['image', 'rm', n], cenv)).code, 0);
    const missing = await cli(['commit', '--json', `${tag}-orphan`, 'umo:orphan'], cenv);
    assert.equal(missing.code, 1);
    assert.equal((JSON.parse(missing.stderr) as { error: { code: string } }).error.code, 'ERR_COMMIT_BASE_MISSING');
    assert.equal(openImageStore({ env }).list().length, before - 1, 'only the removed image went; nothing was added');
    assert.equal((await cli(['container', 'rm', `${tag}-orphan`, `${tag}-run`], cenv)).code, 0);
  });

  it('a named container holds its image against rm and gc; restarted with --allocate in a fresh range it still owns its files', async () => {
    const cb = await cli(['commit', '--json', nameB, 'umo:b'], cenv);
    assert.equal(cb.code, 0, cb.stderr);
    const b = JSON.parse(cb.stdout) as { digest: string; diffId: string };
    const layerDir = join(env.FSIDMAP_STATE_DIR!, 'images', 'layers', b.diffId.slice(7));
    const name = `alloc-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const first = await cli(
      [
        'run',
        '--name',
        name,
        '--allocate',
        '--image',
        'umo:b',
        '--',
        '/bin/sh',
        '-c',
        'cat /proc/self/uid_map; echo r > /srv/r; chown 1000:1001 /srv/r; cat /root/by-b',
      ],
      cenv,
    );
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^ +0 +\d+ +65536\nb\n$/);
    const inspect = async () => JSON.parse((await cli(['image', 'inspect', '--json', 'umo:b'], cenv)).stdout) as { heldBy: string[] };
    assert.deepEqual((await inspect()).heldBy, [`container:${name}`]);
    // Its last name removed: the image stays (held), and gc keeps its layers.
    const rm = JSON.parse((await cli(['image', 'rm', '--json', 'umo:b'], cenv)).stdout) as Array<{ deleted: string | null }>;
    assert.equal(rm[0].deleted, null);
    assert.equal((await cli(['image', 'gc'], cenv)).code, 0);
    assert.ok(existsSync(layerDir), 'the held layer survives gc');
    const again = await cli(
      ['run', '--name', name, '--allocate', '--', '/bin/sh', '-c', 'cat /proc/self/uid_map; stat -c %u:%g /srv/r; echo s >> /srv/r'],
      cenv,
    );
    assert.equal(again.code, 0, again.stderr);
    const [m1, m2] = [first.stdout.split('\n')[0], again.stdout.split('\n')[0]];
    assert.notEqual(m1.trim(), m2.trim(), `two starts, two ranges: ${m1} / ${m2}`);
    assert.equal(again.stdout.split('\n')[1], '1000:1001');
    const r = lstatSync(join(savedPaths(name, env).upper, 'srv/r'));
    assert.deepEqual([r.uid, r.gid], [1000, 1001], 'on disk at the image ids, not shifted by either range');
    // Removing the container lets the image and its layer go.
    assert.equal((await cli(['container', 'rm', name], cenv)).code, 0);
    const del = JSON.parse((await cli(['image', 'rm', '--json', b.digest], cenv)).stdout) as Array<{ deleted: string | null }>;
    assert.equal(del[0].deleted, b.digest);
    assert.equal((await cli(['image', 'gc'], cenv)).code, 0);
    assert.equal(existsSync(layerDir), false);
    const left = spawnSync('sh', ['-c', `ls ${join(env.FSIDMAP_STATE_DIR!, 'images', 'holders')}`], { encoding: 'utf8' }).stdout.trim();
    assert.equal(left.split('\n').filter(Boolean).length, 2, 'the two containers of the isolation test still hold umo:v1');
  });
});
