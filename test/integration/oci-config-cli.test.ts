// `fsidmap oci config`: what it refuses and why, --root-path's checks, --output, and that it says what run plans.
import assert from 'node:assert/strict';
import { chownSync, chmodSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, makeToyImage, mountsUnder, rootSkip, tempDir } from './support/run-fixtures.js';

interface Mapping {
  containerID: number;
  hostID: number;
  size: number;
}
interface Config {
  root: { path: string };
  hostname: string;
  process: { args: string[]; env: string[]; cwd: string; user: { uid: number; gid: number; additionalGids?: number[] } };
  mounts: Array<{
    destination: string;
    source: string;
    type: string;
    options?: string[];
    uidMappings?: Mapping[];
    gidMappings?: Mapping[];
  }>;
  linux: { uidMappings: Mapping[]; gidMappings: Mapping[]; namespaces: Array<{ type: string }> };
}

const errorOf = (stdout: string, stderr: string) =>
  (JSON.parse((stderr || stdout).trim().split('\n').pop()!) as { error: { code: string; message: string; hint: string } }).error;

describe('oci config: refusals, --root-path, --output', { skip: rootSkip }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let root: string, vol: string, mnt: string, other: string;
  const MAPS = ['--idmap', '0:100000:65536', '--fsidmap', '0:300000:65536'];

  before(() => {
    tmp = tempDir('oci-cli');
    chmodSync(tmp.dir, 0o711);
    [root, vol, mnt, other] = ['root', 'vol', 'mnt', 'other'].map((d) => {
      const p = join(tmp.dir, d);
      mkdirSync(p);
      return p;
    });
    makeToyImage(root, 300000);
    chownSync(vol, 300000, 300000);
  });
  after(() => {
    assert.deepEqual(mountsUnder(tmp.dir), []);
    tmp.remove();
  });

  for (const [what, args, code, hint] of [
    ['--image', ['--image', 'debian:12', ...MAPS, '--', 'sh'], 'ERR_OCI_IMAGE', /--rootfs DIR/],
    ['--allocate', ['--allocate', '--rootfs', '<root>', '--', 'sh'], 'ERR_OCI_ALLOCATE', /allocate first .* --idmap/],
    ['no --rootfs', ['--idmap', '0:100000:65536', '--', 'sh'], 'ERR_OCI_NO_ROOTFS', /--rootfs DIR/],
    [
      'an fsid map on the rootfs without --root-path',
      [...MAPS, '--rootfs', '<root>', '--', 'sh'],
      'ERR_OCI_ROOTFS_IDMAP',
      /fsidmap mount .* --root-path/,
    ],
    [
      'a command run would not find',
      ['--idmap', '0:100000:65536', '--rootfs', '<root>', '--', 'nosuch'],
      'ERR_RUN_CMD_NOT_FOUND',
      /image has/,
    ],
  ] as const) {
    it(`refuses ${what} (${code}), with a hint, exit 1, writing nothing`, async () => {
      const out = join(tmp.dir, 'refused.json');
      const r = await cli(['oci', 'config', '--json', '--output', out, ...args.map((a) => a.replace('<root>', root))]);
      assert.equal(r.code, 1, r.stderr);
      const e = errorOf(r.stdout, r.stderr);
      assert.equal(e.code, code);
      assert.match(e.hint, hint);
      assert.deepEqual(
        readdirSync(tmp.dir).filter((f) => f.includes('refused')),
        [],
      );
    });
  }

  it("the refusal's hint is a mount that works: then --root-path gives root.path, the volume its mount map, the id map as run's", async () => {
    const r = await cli(['oci', 'config', '--json', ...MAPS, '--rootfs', root, '--', 'sh']);
    const hint = errorOf(r.stdout, r.stderr).hint;
    const mount = /fsidmap (mount .*?) \/mnt\/root/.exec(hint)![1].split(' ');
    const m = await cli([...mount, mnt]);
    assert.equal(m.code, 0, m.stderr);
    try {
      const g = await cli([
        'oci',
        'config',
        '--name',
        'c1',
        ...MAPS,
        '--rootfs',
        root,
        '--root-path',
        mnt,
        '--volume',
        `${vol}:/shared:ro`,
        '--workdir',
        '/data',
        '--',
        'sh',
        '-c',
        'x',
      ]);
      assert.equal(g.code, 0, g.stderr);
      const c = JSON.parse(g.stdout) as Config;
      assert.equal(c.root.path, mnt);
      assert.equal(c.hostname, 'c1');
      assert.deepEqual(c.process.args, ['sh', '-c', 'x']);
      assert.equal(c.process.cwd, '/data');
      assert.deepEqual(c.linux.uidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
      assert.deepEqual(
        c.linux.namespaces.map((n) => n.type),
        ['user', 'mount', 'pid', 'ipc', 'uts'],
      );
      const v = c.mounts.find((x) => x.destination === '/shared')!;
      assert.deepEqual(v.options, ['rbind', 'ro']);
      // As fsidmap map mount-map prints it: on-disk id (containerID), the id seen (hostID), count.
      const mm = await cli(['map', 'mount-map', ...MAPS]);
      const [d, s, n] = mm.stdout.trim().split(/\s+/).map(Number);
      assert.deepEqual(v.uidMappings, [{ containerID: d, hostID: s, size: n }]);
      assert.deepEqual(v.gidMappings, v.uidMappings);
      assert.ok(!c.mounts.some((x) => x.destination === '/'), 'the rootfs is root.path, never a mount at /');
    } finally {
      const u = await cli(['umount', mnt]);
      assert.equal(u.code, 0, u.stderr);
    }
  });

  it('checks --root-path: the rootfs itself (not idmapped), another tree, a mount made with other maps', async () => {
    const bad = async (rootPath: string, code: string) => {
      const r = await cli(['oci', 'config', '--json', ...MAPS, '--rootfs', root, '--root-path', rootPath, '--', 'sh']);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(errorOf(r.stdout, r.stderr).code, code);
    };
    await bad(root, 'ERR_OCI_ROOT_PATH_NOT_IDMAPPED');
    await bad(other, 'ERR_OCI_ROOT_PATH_OTHER');
    await bad(join(tmp.dir, 'nosuch'), 'ERR_OCI_ROOT_PATH_MISSING');
    // Mounted for a container in 200000: the root shows as 200000, not as the 100000 these maps give.
    const m = await cli(['mount', '--idmap', '0:200000:65536', '--fsidmap', '0:300000:65536', root, mnt]);
    assert.equal(m.code, 0, m.stderr);
    try {
      await bad(mnt, 'ERR_OCI_ROOT_PATH_MAP');
    } finally {
      assert.equal((await cli(['umount', mnt])).code, 0);
    }
  });

  it("--network none adds a network namespace, as run's; host (the default) shares the host's; other values are bad input", async () => {
    const args = ['oci', 'config', '--name', 'n', '--idmap', '0:100000:65536', '--rootfs', root];
    const types = async (more: string[]) => {
      const r = await cli([...args, ...more, '--', 'sh']);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as Config).linux.namespaces.map((n) => n.type);
    };
    assert.deepEqual(await types(['--network', 'none']), ['user', 'mount', 'pid', 'ipc', 'uts', 'network']);
    assert.deepEqual(await types([]), ['user', 'mount', 'pid', 'ipc', 'uts']);
    assert.deepEqual(await types(['--network', 'host']), ['user', 'mount', 'pid', 'ipc', 'uts']);
    const bad = await cli([...args, '--network', 'bridge', '--', 'sh']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--network bridge: only none and host/);
  });

  it('--output replaces the file whole, leaves no temporary file, and writes what stdout prints', async () => {
    const out = join(tmp.dir, 'config.json');
    writeFileSync(out, 'old');
    const args = ['oci', 'config', '--name', 'o', '--idmap', '0:100000:65536', '--rootfs', root];
    const w = await cli([...args, '--output', out, '--', 'sh']);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stdout, '');
    const p = await cli([...args, '--', 'sh']);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(readFileSync(out, 'utf8'), p.stdout);
    assert.equal((JSON.parse(p.stdout) as Config).root.path, root, 'without an fsid map root.path is the rootfs');
    assert.deepEqual(
      readdirSync(tmp.dir).filter((f) => f.startsWith('.config.json')),
      [],
    );
  });

  it('notes a directory on the way that the container root cannot search (run does not need it; a runtime does)', async () => {
    const closed = join(tmp.dir, 'closed');
    mkdirSync(join(closed, 'v'), { recursive: true, mode: 0o700 });
    chmodSync(closed, 0o700);
    try {
      const r = await cli([
        'oci',
        'config',
        '--idmap',
        '0:100000:65536',
        '--rootfs',
        root,
        '--volume',
        `${join(closed, 'v')}:/data`,
        '--',
        'sh',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`cannot search ${closed} \\(mode 0700, owner 0:0\\)`));
      const open = await cli(['oci', 'config', '--idmap', '0:100000:65536', '--rootfs', root, '--', 'sh']);
      assert.doesNotMatch(open.stderr, /cannot search/);
    } finally {
      rmdirSync(join(closed, 'v'));
      rmdirSync(closed);
    }
  });
});
