import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeSampleImage } from '../../src/container/sample-image.js';
import { BrokerWorld, cliPath, sleep, type TestUser } from './support/broker-world.js';
import { buildArchive } from '../support/tar-builder.js';
import { CLI, sh } from '../support/tar-fixtures.js';
import { storeState, umociSkip, writeHandLayout } from './support/oci-fixtures.js';

/**
 * Ordinary users' image stores (issue 12, part 5), with real unprivileged
 * users: `a` has a subordinate range of 65536 uids and gids, `b` has none.
 * Images are built as root (umoci, GNU tar); the users import them through
 * the CLI (setpriv), and the stored layers are checked from here with stat:
 * image id 0 must be on disk as the user's own id, image id x ≥ 1 as the
 * first subordinate id + x - 1, nothing else.
 */
const skip =
  process.getuid?.() !== 0
    ? 'needs root: creates users with subordinate ranges'
    : umociSkip || (!existsSync('/usr/bin/newuidmap') ? 'needs newuidmap/newgidmap (Debian: uidmap)' : false);

interface User {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly sub: number | undefined;
}

const SUBCOUNT = 65536;

describe("an ordinary user's image store", { skip }, () => {
  const tag = randomBytes(3).toString('hex');
  let base = '';
  let a: User;
  let b: User;
  let goodLayout = '';
  let lowest = '';

  const addUser = (letter: string, sub: number | undefined): User => {
    const name = `fsidui${letter}${tag}`;
    const home = join(base, `home-${letter}`);
    execFileSync('useradd', ['-r', '-M', '-d', home, '-s', '/bin/sh', name], { stdio: 'pipe' });
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
    if (sub !== undefined) {
      const range = `${sub}-${sub + SUBCOUNT - 1}`;
      execFileSync('usermod', ['--add-subuids', range, '--add-subgids', range, name], { stdio: 'pipe' });
    }
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, uid, gid);
    return { name, uid, gid, home, sub };
  };

  /** fsidmap as the user, in their own environment (their default store under ~/.local/state). */
  const as = (u: User, args: string[]) => {
    const r = spawnSync('setpriv', [`--reuid=${u.uid}`, `--regid=${u.gid}`, '--init-groups', '--', process.execPath, CLI, ...args], {
      encoding: 'utf8',
      cwd: u.home,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: u.home, USER: u.name, LANG: 'C.UTF-8' },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const storeOf = (u: User) => join(u.home, '.local/state/fsidmap/images');
  const errorOf = (r: { stderr: string }) => JSON.parse(r.stderr).error as { code: string; message: string; hint: string | null };
  const onDisk = (u: User, id: number, own: number) => (id === 0 ? own : u.sub! + id - 1);

  before(() => {
    base = realpathSync(mkdtempSync(`/tmp/fsidui-${tag}-`));
    chmodSync(base, 0o755);
    const slot = parseInt(tag, 16) % 20000;
    a = addUser('a', 1_700_000_000 + slot * SUBCOUNT);
    b = addUser('b', undefined);
    // Two layers from umoci: owners at the map's edges (0, 1, 65536), a private home, setuid, an ACL, xattrs, links, a fifo, deletions.
    const build = join(base, 'build');
    mkdirSync(build);
    goodLayout = join(build, 'oci');
    sh(`set -e
      umoci init --layout ${goodLayout}
      umoci new --image ${goodLayout}:v1
      umoci unpack --image ${goodLayout}:v1 ${build}/b1 >/dev/null
      cd ${build}/b1/rootfs
      mkdir -p etc home/u opq/sub bin srv tmp gone-dir
      echo hello > etc/hello; setfattr -n user.note -v one etc/hello
      echo secret > etc/shadow; chmod 640 etc/shadow; chown 0:42 etc/shadow
      printf '#!/bin/sh\\n' > bin/su; chmod 4755 bin/su
      echo mine > home/u/f; chown -R 1000:1001 home/u; chmod 700 home/u
      echo edge > srv/edge; chown ${SUBCOUNT}:${SUBCOUNT} srv/edge; echo one > srv/one; chown 1:1 srv/one
      echo acl > etc/acl; setfacl -m u:1234:rw- etc/acl
      ln -s ../etc/hello link-rel; ln etc/hello hard; mkfifo tmp/fifo
      echo x > gone-dir/x; echo old > opq/sub/old; echo gone > gone
      cd - >/dev/null
      umoci repack --image ${goodLayout}:v1 ${build}/b1
      umoci unpack --image ${goodLayout}:v1 ${build}/b2 >/dev/null
      cd ${build}/b2/rootfs
      rm gone; rm -rf gone-dir opq/sub; mkdir opq/sub; echo new > opq/sub/new; echo changed > etc/hello
      cd - >/dev/null
      umoci repack --image ${goodLayout}:v1 ${build}/b2
      chmod 755 ${build}; chmod -R a+rX ${goodLayout}
    `);
  });

  after(() => {
    for (const u of [a, b]) if (u) spawnSync('userdel', [u.name], { stdio: 'ignore' });
    if (base) {
      // The users' stores hold files of subordinate ids: root removes them.
      rmSync(base, { recursive: true, force: true });
    }
  });

  test("a user's import stores every owner at the mapped id (0 → the user, x → first subordinate id + x - 1)", () => {
    const r = as(a, ['image', 'import', '--json', '--name', 'good:v1', `${goodLayout}:v1`]);
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { digest: string; layers: Array<{ diffId: string }> };
    assert.equal(result.layers.length, 2);
    const store = storeOf(a);
    const map = JSON.parse(readFileSync(join(store, 'idmap.json'), 'utf8'));
    assert.deepEqual(map.uid, [
      { first: 0, lower: a.uid, count: 1 },
      { first: 1, lower: a.sub, count: SUBCOUNT },
    ]);
    // The lowest layer holds every file of the first umoci layer: compare each with umoci's own unpack (as root: the tar's ids).
    lowest = result.layers[0].diffId.slice(7);
    const layer = join(store, 'layers', lowest, 'root');
    // umoci repacked b1/rootfs as the first layer: the same tree at the tar's own ids.
    const umociRoot = join(base, 'build', 'b1', 'rootfs');
    let checked = 0;
    const walk = (rel: string) => {
      const mine = lstatSync(join(layer, rel));
      const theirs = lstatSync(join(umociRoot, rel));
      assert.equal(mine.uid, onDisk(a, theirs.uid, a.uid), `${rel}: uid ${theirs.uid} on disk as ${mine.uid}`);
      assert.equal(mine.gid, onDisk(a, theirs.gid, a.gid), `${rel}: gid ${theirs.gid} on disk as ${mine.gid}`);
      assert.equal(mine.mode, theirs.mode, `${rel}: mode`);
      checked++;
      if (mine.isDirectory()) for (const n of readdirSync(join(layer, rel)).sort()) walk(rel ? `${rel}/${n}` : n);
    };
    walk('');
    assert.ok(checked >= 20, `only ${checked} entries compared`);
    const st = lstatSync(join(layer, 'srv/edge'));
    assert.equal(st.uid, a.sub! + SUBCOUNT - 1, 'image id 65536 is the last subordinate id');
    assert.equal(lstatSync(join(layer, 'srv/one')).uid, a.sub!, 'image id 1 is the first subordinate id');
    assert.equal(lstatSync(join(layer, 'home/u/f')).uid, a.sub! + 999);
    assert.equal(execFileSync('getfattr', ['--only-values', '-n', 'user.note', join(layer, 'etc/hello')], { encoding: 'utf8' }), 'one');
    // The ACL's named user is the image's 1234, stored at its mapped id (the kernel maps ACL ids through the namespace too).
    assert.match(
      execFileSync('getfacl', ['-n', '-p', join(layer, 'etc/acl')], { encoding: 'utf8' }),
      new RegExp(`user:${a.sub! + 1233}:rw-`),
    );
  });

  test("list and inspect show the user's image, with the store's map", () => {
    const list = as(a, ['image', 'list', '--json']);
    assert.equal(list.status, 0, list.stderr);
    const images = JSON.parse(list.stdout).images as Array<{ names: string[] }>;
    assert.deepEqual(
      images.map((i) => i.names),
      [['good:v1']],
    );
    const ins = as(a, ['image', 'inspect', '--json', 'good:v1']);
    assert.equal(ins.status, 0, ins.stderr);
    const rep = JSON.parse(ins.stdout) as { fsidmap: { uid: string; gid: string }; owners: { uids: unknown } };
    assert.equal(rep.fsidmap.uid, `0 ${a.uid} 1\n1 ${a.sub} ${SUBCOUNT}\n`);
    assert.equal(rep.fsidmap.gid, `0 ${a.gid} 1\n1 ${a.sub} ${SUBCOUNT}\n`);
    const text = as(a, ['image', 'inspect', 'good:v1']);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`store map: +uid 0:${a.uid}:1,1:${a.sub}:${SUBCOUNT}; gid 0:${a.gid}:1,1:${a.sub}:${SUBCOUNT}`));
  });

  test("root importing into a user's store is refused (it would store the tar's ids, not the store's map of them)", async () => {
    const { openImageStore } = await import('../../src/image/index.js');
    const beforeState = storeState(storeOf(a));
    await assert.rejects(
      openImageStore({ root: storeOf(a) }).import(`${goodLayout}:v1`, { name: 'root:1' }),
      (e: { code: string; message: string }) => {
        assert.equal(e.code, 'ERR_IMAGE_STORE_OWNER');
        assert.match(e.message, new RegExp(`is ${a.name}'s`));
        return true;
      },
    );
    assert.deepEqual(storeState(storeOf(a)), beforeState);
  });

  test('a device node is refused before anything is stored', () => {
    const dir = join(base, 'dev-src');
    sh(`set -e; mkdir -p ${dir}/t/dev; mknod ${dir}/t/dev/null c 1 3; echo x > ${dir}/t/a`);
    const tar = execFileSync('tar', ['--numeric-owner', '--sort=name', '-C', join(dir, 't'), '-cf', '-', '.']);
    const layout = writeHandLayout(join(base, 'dev-oci'), [{ tar }]);
    sh(`chmod -R a+rX ${layout}`);
    const beforeState = storeState(storeOf(a));
    const r = as(a, ['image', 'import', '--json', '--name', 'dev:1', layout]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const e = errorOf(r);
    assert.equal(e.code, 'ERR_IMAGE_LAYER_DEVICE');
    assert.match(e.message, /dev\/null is a character device \(1:3\)/);
    assert.match(e.hint ?? '', /mknod inside a user namespace/);
    assert.deepEqual(storeState(storeOf(a)), beforeState, 'the store changed');
    assert.deepEqual(readdirSync(join(storeOf(a), 'tmp')), [], 'staging left behind');
  });

  test('an id past the map is refused, naming the entry, the id and the range it needs', () => {
    const tar = buildArchive([
      { path: 'ok', uid: 0, gid: 0, data: Buffer.from('ok\n') },
      { path: 'far', uid: 70000, gid: 0, data: Buffer.from('far\n') },
    ]);
    const layout = writeHandLayout(join(base, 'far-oci'), [{ tar, gzip: true }]);
    sh(`chmod -R a+rX ${layout}`);
    const beforeState = storeState(storeOf(a));
    const r = as(a, ['image', 'import', '--json', '--name', 'far:1', layout]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const e = errorOf(r);
    assert.equal(e.code, 'ERR_IMAGE_ID_UNMAPPED');
    assert.match(e.message, /far is owned by uid 70000, but this store maps only uids 0\.\.65536/);
    assert.match(e.hint ?? '', /uids 0\.\.70000 at least/);
    assert.deepEqual(storeState(storeOf(a)), beforeState, 'the store changed');
    assert.deepEqual(readdirSync(join(storeOf(a), 'tmp')), [], 'staging left behind');
  });

  test('a user without subordinate ids gets ERR_SUBID_NO_RANGE and no store', () => {
    const r = as(b, ['image', 'import', '--json', `${goodLayout}:v1`]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const e = errorOf(r);
    assert.equal(e.code, 'ERR_SUBID_NO_RANGE');
    assert.match(e.message, new RegExp(`${b.name} has no subordinate uids in /etc/subuid`));
    assert.match(e.hint ?? '', /usermod --add-subuids/);
    assert.equal(existsSync(storeOf(b)), false, 'a store was made');
  });

  test("another user's store is refused", () => {
    const other = join(base, 'b-store');
    mkdirSync(other, { mode: 0o755 });
    chownSync(other, b.uid, b.gid);
    const r = as(a, ['image', 'import', '--json', '--store', other, `${goodLayout}:v1`]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.equal(errorOf(r).code, 'ERR_IMAGE_STORE_OWNER');
    assert.deepEqual(readdirSync(other), []);
  });

  test('kill -9 during a user import leaves the store as it was; gc removes the staging once its worker is gone', async () => {
    const files = Array.from({ length: 20000 }, (_, i) => ({ path: `d/f${i}`, uid: 1000, gid: 1000, data: Buffer.alloc(256, 97) }));
    const tar = buildArchive([{ path: 'd/', type: 'dir', uid: 1000, gid: 1000, mode: 0o700 }, ...files]);
    const layout = writeHandLayout(join(base, 'big-oci'), [{ tar }]);
    sh(`chmod -R a+rX ${layout}`);
    const store = storeOf(a);
    const beforeState = storeState(store);
    const child = spawn(
      'setpriv',
      [`--reuid=${a.uid}`, `--regid=${a.gid}`, '--init-groups', '--', process.execPath, CLI, 'image', 'import', layout],
      {
        stdio: 'ignore',
        cwd: a.home,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: a.home },
      },
    );
    const exited = new Promise((r) => child.once('exit', r));
    const staged = () => readdirSync(join(store, 'tmp')).some((n) => existsSync(join(store, 'tmp', n, 'layer-0', 'root', 'd')));
    for (let i = 0; i < 3000 && !staged(); i++) await sleep(20);
    assert.ok(staged(), 'the import never reached its layer');
    const worker = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .find((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('userns-worker.js');
        } catch {
          return false;
        }
      });
    assert.ok(worker, 'no unpack worker runs');
    // The worker holds the staging's lock too (inherited fd 3): gc cannot take the staging from under it.
    assert.match(readlinkSync(`/proc/${worker}/fd/3`), /\/tmp\/[^/]+\.lock$/);
    child.kill('SIGKILL');
    await exited;
    for (let i = 0; i < 3000 && existsSync(`/proc/${worker}`); i++) await sleep(20);
    assert.equal(existsSync(`/proc/${worker}`), false, 'the worker outlived its import (its stdin closed)');
    assert.deepEqual(storeState(store), beforeState, 'the store changed');
    const gc = as(a, ['image', 'gc', '--json']);
    assert.equal(gc.status, 0, gc.stderr);
    assert.equal(JSON.parse(gc.stdout).staging, 1);
    assert.deepEqual(readdirSync(join(store, 'tmp')), []);
  });

  test('rm and gc remove layers whose files belong to subordinate ids', () => {
    const store = storeOf(a);
    const layers = readdirSync(join(store, 'layers'));
    assert.equal(layers.length, 2);
    // home/u is the image's 1000 (a subordinate id) with mode 0700: the user alone could not unlink what is in it.
    const home = lstatSync(join(store, 'layers', lowest, 'root/home/u'));
    assert.ok(home.uid !== a.uid && (home.mode & 0o002) === 0);
    const rm = as(a, ['image', 'rm', 'good:v1']);
    assert.equal(rm.status, 0, rm.stderr);
    const gc = as(a, ['image', 'gc', '--json']);
    assert.equal(gc.status, 0, gc.stderr);
    assert.equal(JSON.parse(gc.stdout).layers, 2);
    assert.deepEqual(readdirSync(join(store, 'layers')), []);
    assert.deepEqual(readdirSync(join(store, 'tmp')), []);
  });
});

/**
 * `run --image` by an ordinary user from their own store, through the
 * broker: the layers are mounted with the mount map of the container's id
 * map and the store's map (limited to the container's ids), so the
 * container sees the tar's owners, and what it writes lands in its
 * writable layer at the image's ids under the store's map.
 */
describe("run --image from an ordinary user's store, through the broker", { skip }, () => {
  let w: BrokerWorld | undefined;
  let u: TestUser;
  let src = '';

  before(async () => {
    w = await BrokerWorld.create({ users: 1, limits: { default: { requestsPerSecond: 1000, burst: 1000 } } });
    u = w.users[0];
    // A runnable rootfs tar made as root: the host's sh and coreutils at 0:0, and entries at the tar's 1000:1001 and 42:43.
    const tree = join(w.base, 'app-tree');
    makeSampleImage(tree, { offset: 0 });
    sh(`set -e; cd ${tree}; mkdir -p srv/app; echo f > srv/app/f; chown 1000:1001 srv/app; chown 42:43 srv/app/f; chmod 750 srv/app`);
    src = join(w.base, 'app.tar');
    execFileSync('tar', ['--numeric-owner', '--sort=name', '-C', tree, '-cf', src, '.']);
    chmodSync(src, 0o644);
  });
  after(async () => {
    await w?.destroy();
  });

  const fsidmapAs = (args: string[]) => w!.runAs(u, [process.execPath, cliPath, ...args]);

  test("the container sees the tar's owners; its writes land at the store's map of its ids", async (t) => {
    const { resolveImage } = await import('../../src/cli/commands/run-image.js');
    const probe = await resolveImage('fsidmap-no-such-image', { FSIDMAP_STATE_DIR: join(w!.base, 'probe-state') }).then(
      () => 'resolved',
      (e: { code: string }) => e.code,
    );
    if (probe === 'ERR_IMAGE_STORE_UNAVAILABLE') {
      t.skip('this build of run --image does not resolve images from the store (cli/commands/run-image.ts)');
      return;
    }
    assert.equal(probe, 'ERR_IMAGE_NOT_FOUND');
    const imp = await fsidmapAs(['image', 'import', '--json', '--name', 'app:1', src]);
    assert.equal(imp.code, 0, imp.stderr);
    const S = u.sub.start;
    // The container's own ids: the second 65536 of the user's range (the store's map uses the first).
    const idmap = `0:${S + 65536}:65536`;
    const script = 'stat -c "%u:%g %n" / /srv/app /srv/app/f; id -u; touch /root/w; chown 7:8 /root/w';
    const r = await fsidmapAs(['run', '--name', 'c1', '--image', 'app:1', '--idmap', idmap, '--', '/bin/sh', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['0:0 /', '1000:1001 /srv/app', '42:43 /srv/app/f', '0']);
    const upper = join(u.home, '.local/state/fsidmap/containers/c1/upper/root/w');
    const st = lstatSync(upper);
    assert.deepEqual([st.uid, st.gid], [S + 6, S + 7], "image ids 7:8 are on disk at the store map's S+6:S+7");
    const audit = readFileSync(w!.auditPath, 'utf8');
    assert.match(audit, /"op":"mount".*"decision":"allowed"/, 'the broker made the layer mounts');
    // Commit reads the upper dir inside the user's namespace, so the new layer's tar has the image's ids (7:8), stored like any layer.
    const commit = await fsidmapAs(['commit', '--json', 'c1', 'app:2']);
    assert.equal(commit.code, 0, commit.stderr);
    const top = (JSON.parse(commit.stdout) as { diffId: string }).diffId;
    const stored = lstatSync(join(u.home, '.local/state/fsidmap/images/layers', top.slice(7), 'root/root/w'));
    assert.deepEqual([stored.uid, stored.gid], [S + 6, S + 7]);
    const ins = await fsidmapAs(['image', 'inspect', '--json', 'app:2']);
    assert.equal(ins.code, 0, ins.stderr);
    // The committed layer's owners, as its tar says: the image's ids (0 for the directories, 7 for the file), not the on-disk S+6.
    const layers = (JSON.parse(ins.stdout) as { layers: Array<{ stats: { uids: Array<{ start: number; end: number }> } }> }).layers;
    assert.deepEqual(
      layers.at(-1)!.stats.uids.map((r) => [r.start, r.end]),
      [
        [0, 1],
        [7, 8],
      ],
    );
    const rm = await fsidmapAs(['container', 'rm', 'c1']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(existsSync(join(u.home, '.local/state/fsidmap/containers/c1')), false);
    for (const ref of ['app:2', 'app:1']) assert.equal((await fsidmapAs(['image', 'rm', ref])).code, 0);
    const gc = await fsidmapAs(['image', 'gc', '--json']);
    assert.equal(gc.code, 0, gc.stderr);
    assert.equal((JSON.parse(gc.stdout) as { layers: number }).layers, 2);
  });
});
