// The kernel adapter and `fsidmap mount/umount` on the real kernel.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IdMap, parseMap } from '../../src/idmap/index.js';
import { spawn } from 'node:child_process';
import {
  assertMapWritable,
  attachMount,
  clearIdmapSupportCache,
  makeDetachedMount,
  mountOf,
  probeIdmapSupport,
  stagePath,
  unmountIdmapped,
  writeNamespaceMaps,
} from '../../src/kernel/index.js';
import { cli, mountsUnder, processesWith, rootSkip, tempDir } from './support/run-fixtures.js';

const pair = (spec: string) => {
  const m = parseMap(spec);
  return { uid: m, gid: m };
};

describe('kernel adapter: idmapped mounts, holders, map writes, the probe', { skip: rootSkip }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let tree: string;
  before(() => {
    tmp = tempDir('mount');
    tree = join(tmp.dir, 'tree');
    mkdirSync(tree);
    writeFileSync(join(tree, 'f'), 'x');
    chownSync(tree, 300000, 300000);
    chownSync(join(tree, 'f'), 300005, 300006);
  });
  after(() => {
    assert.deepEqual(mountsUnder(tmp.dir), []);
    tmp.remove();
  });

  it('makes a detached idmapped mount that shows on-disk 300000+x as 100000+x, and attaches it', async () => {
    const target = join(tmp.dir, 'attached');
    mkdirSync(target);
    const m = await makeDetachedMount(tree, { maps: pair('300000:100000:65536') });
    assert.deepEqual(mountsUnder(tmp.dir), [], 'a detached mount is in no mount table');
    attachMount(m, target);
    try {
      const st = lstatSync(join(target, 'f'));
      assert.deepEqual([st.uid, st.gid], [100005, 100006]);
      assert.ok(mountOf(target).options.includes('idmapped'));
      // Host root is unmapped in this mount: the kernel refuses to create a file it could not store (EOVERFLOW).
      assert.throws(() => writeFileSync(join(target, 'new'), ''), { code: 'EOVERFLOW' });
    } finally {
      unmountIdmapped(target);
      rmdirSync(target);
    }
    assert.deepEqual(processesWith(`fsidmap-stage:hold:${process.pid}`), [], 'the holder is gone');
  });

  it('checks a map before the kernel sees it: a refused map is never written', async () => {
    const child = spawn(stagePath(), ['hold'], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise((r) => child.stdout.once('data', r));
    const mapOf = (kind: string) => readFileSync(`/proc/${child.pid}/${kind}_map`, 'utf8');
    try {
      // 341 lines: the kernel would say EINVAL; the check names the rule and nothing is written.
      const tooMany = IdMap.from(Array.from({ length: 341 }, (_, i) => ({ first: i, lower: 1000 + 2 * i, count: 1 })));
      assert.throws(() => writeNamespaceMaps(child.pid!, { uid: tooMany, gid: tooMany }), { code: 'ERR_IDMAP_TOO_MANY_LINES' });
      assert.equal(mapOf('uid'), '');
      assert.equal(mapOf('gid'), '');
      // A good map is written, and read back as the kernel installed it.
      writeNamespaceMaps(child.pid!, pair('0:100000:10'));
      assert.equal(mapOf('uid').trim().split(/\s+/).join(' '), '0 100000 10');
      // Maps are write-once: the second write is refused by the check (the kernel would say EPERM).
      assert.throws(() => writeNamespaceMaps(child.pid!, pair('0:200000:10')), { code: 'ERR_IDMAP_ALREADY_WRITTEN' });
      assert.equal(mapOf('uid').trim().split(/\s+/).join(' '), '0 100000 10');
    } finally {
      child.stdin.end();
      await new Promise((r) => child.once('exit', r));
    }
    // A map whose lower ids the writer's own namespace lacks (fsidmap nested in a container) is refused the same way.
    assert.throws(() => assertMapWritable('uid', parseMap('0:100000:10'), parseMap('0:0:1000')), { code: 'ERR_IDMAP_OUTSIDE_PARENT' });
  });

  it('refuses an idmapped mount on a filesystem without FS_ALLOW_IDMAP, naming the filesystem', async () => {
    const dir = join(tmp.dir, 'ramfs');
    mkdirSync(dir);
    execFileSync('mount', ['-t', 'ramfs', 'fsidmap-test-ramfs', dir]);
    try {
      clearIdmapSupportCache();
      const p = await probeIdmapSupport(dir);
      assert.equal(p.supported, false);
      assert.equal(p.fsType, 'ramfs');
      assert.equal(p.error?.code, 'ERR_FS_NO_IDMAP');
      assert.equal((await probeIdmapSupport(dir)).cached, true, 'the answer is cached per filesystem');
      await assert.rejects(makeDetachedMount(dir, { maps: pair('300000:100000:65536') }), { code: 'ERR_FS_NO_IDMAP' });
    } finally {
      execFileSync('umount', [dir]);
      rmdirSync(dir);
    }
    const ok = await probeIdmapSupport(tree);
    assert.equal(ok.supported, true);
    assert.equal(ok.fsType, mountOf(tree).fsType);
  });

  it('fsidmap mount shows SRC as the container sees it through its fsid map; fsidmap umount removes it', async () => {
    const dst = join(tmp.dir, 'view');
    mkdirSync(dst);
    const r = await cli(['mount', '--idmap', '0:100000:65536', '--fsidmap', '0:300000:65536', tree, dst]);
    assert.equal(r.code, 0, r.stderr);
    try {
      const st = lstatSync(join(dst, 'f'));
      assert.deepEqual([st.uid, st.gid], [100005, 100006], "on-disk 300005 shows as the container's uid 5 = kuid 100005");
      // Mounting the idmapped view again is refused (the kernel cannot idmap twice): exit 1.
      const again = join(tmp.dir, 'again');
      mkdirSync(again);
      const twice = await cli(['mount', '--idmap', '0:100000:65536', '--fsidmap', '0:100000:65536', dst, again]);
      assert.equal(twice.code, 1);
      assert.match(twice.stderr, /idmapped mount/);
      assert.deepEqual(mountsUnder(tmp.dir), [dst]);
      rmdirSync(again);
    } finally {
      const u = await cli(['umount', dst]);
      assert.equal(u.code, 0, u.stderr);
    }
    assert.deepEqual(mountsUnder(tmp.dir), []);
    rmdirSync(dst);
  });

  it('fsidmap mount with separate uid and gid maps', async () => {
    const dst = join(tmp.dir, 'split');
    mkdirSync(dst);
    const r = await cli([
      'mount',
      '--uidmap',
      '0:100000:65536',
      '--gidmap',
      '0:150000:65536',
      '--fsuidmap',
      '0:300000:65536',
      '--fsgidmap',
      '0:300000:65536',
      tree,
      dst,
    ]);
    assert.equal(r.code, 0, r.stderr);
    try {
      const st = lstatSync(join(dst, 'f'));
      assert.deepEqual([st.uid, st.gid], [100005, 150006]);
    } finally {
      assert.equal((await cli(['umount', dst])).code, 0);
      rmdirSync(dst);
    }
  });

  it('fsidmap umount refuses what fsidmap did not mount, and mount refuses bad input', async () => {
    const plain = join(tmp.dir, 'plain');
    mkdirSync(plain);
    execFileSync('mount', ['--bind', tree, plain]);
    try {
      const r = await cli(['umount', plain]);
      assert.equal(r.code, 1);
      assert.deepEqual(mountsUnder(tmp.dir), [plain], 'the plain bind mount is untouched');
    } finally {
      execFileSync('umount', [plain]);
    }
    assert.equal((await cli(['umount', plain])).code, 1, 'not a mount point');
    assert.equal((await cli(['mount', '--idmap', '0:100000:65536', tree, plain])).code, 2, 'no fsid map');
    assert.equal((await cli(['mount', '--idmap', '0:100000:0', '--fsidmap', '0:300000:65536', tree, plain])).code, 2, 'invalid map');
    assert.equal(
      (await cli(['mount', '--idmap', '0:100000:65536', '--fsidmap', '0:300000:65536', tree, join(tmp.dir, 'nope')])).code,
      1,
      'missing DST',
    );
    assert.equal(
      (await cli(['mount', '--idmap', '0:100000:65536', '--fsidmap', '0:400000:65536', tree, plain])).code,
      1,
      'fsid map leaves the tree unmapped',
    );
    assert.deepEqual(mountsUnder(tmp.dir), []);
    rmdirSync(plain);
  });
});
