// Bad input to fsidmap run is refused with a clear error before anything is
// created: no state file, no process, no mount. Library calls assert the
// error codes; CLI calls assert the exit statuses.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunSpec, startContainer } from '../../src/container/index.js';
import { IdMap, parseMap } from '../../src/idmap/index.js';
import { cli, cliPath, makeToyImage, marker, mountsUnder, processesWith, rootSkip, tempDir } from './support/run-fixtures.js';

const pair = (spec: string) => {
  const m = parseMap(spec);
  return { uid: m, gid: m };
};

describe('fsidmap run refuses bad input before creating anything', { skip: rootSkip }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let image: string;
  let runDir: string;
  before(() => {
    tmp = tempDir('input');
    image = join(tmp.dir, 'image');
    mkdirSync(image);
    makeToyImage(image, 300000);
    runDir = join(tmp.dir, 'run');
    process.env.FSIDMAP_RUN_DIR = runDir;
  });
  after(() => {
    assert.deepEqual(mountsUnder(tmp.dir), []);
    tmp.remove();
  });

  const good = (name: string): RunSpec => ({
    name,
    ids: { kind: 'maps', maps: pair('0:100000:65536') },
    fs: { kind: 'maps', maps: pair('0:300000:65536') },
    rootfs: image,
    command: ['/bin/true', name],
  });

  /** fixtures: mounts the test itself made under its directory. */
  function nothingMade(tag: string, fixtures: string[] = []): void {
    assert.deepEqual(processesWith(tag), []);
    assert.deepEqual(processesWith(`fsidmap-stage:hold:${process.pid}`), []);
    const states = existsSync(join(runDir, 'containers')) ? readdirSync(join(runDir, 'containers')).filter((f) => f.includes(tag)) : [];
    assert.deepEqual(states, []);
    assert.deepEqual(mountsUnder(tmp.dir), fixtures);
  }

  const cases: Array<[string, string, (s: RunSpec) => RunSpec]> = [
    [
      'ERR_FSIDMAP_UNMAPPED_IDS',
      "an fsid map that leaves the image's owners unmapped",
      (s) => ({ ...s, fs: { kind: 'maps', maps: pair('0:400000:65536') } }),
    ],
    [
      'ERR_MOUNTMAP_UNMAPPED',
      'an fsid map giving ids the id map does not map',
      (s) => ({ ...s, ids: { kind: 'maps', maps: pair('0:100000:1000') } }),
    ],
    ['ERR_RUN_ROOTFS_MISSING', 'a missing rootfs', (s) => ({ ...s, rootfs: join(tmp.dir, 'nonexistent') })],
    ['ERR_RUN_ROOTFS_INCOMPLETE', 'a rootfs without /proc, /dev, /tmp', (s) => ({ ...s, rootfs: join(image, 'etc') })],
    ['ERR_USAGE', 'no command', (s) => ({ ...s, command: [] })],
    ['ERR_RUN_CMD_NOT_FOUND', 'a command the image lacks', (s) => ({ ...s, command: ['/usr/bin/python3', s.name!] })],
    [
      'ERR_RUN_VOLUME_MISSING',
      'a missing volume source',
      (s) => ({ ...s, volumes: [{ source: join(tmp.dir, 'nope'), target: '/data', readonly: false, fsidmap: null }] }),
    ],
    [
      'ERR_RUN_VOLUME_TARGET_MISSING',
      'a volume target the image lacks',
      (s) => ({ ...s, volumes: [{ source: image, target: '/nope', readonly: false, fsidmap: null }] }),
    ],
    ['ERR_USAGE', 'a volume on /proc', (s) => ({ ...s, volumes: [{ source: image, target: '/proc', readonly: false, fsidmap: null }] })],
    ['ERR_RUN_USER_UNMAPPED', 'a --user the id map does not map', (s) => ({ ...s, user: { user: '70000', group: null } })],
    ['ERR_RUN_NO_SUCH_USER', 'a --user name the image lacks', (s) => ({ ...s, user: { user: 'mallory', group: null } })],
    [
      'ERR_IDMAP_TOO_MANY_LINES',
      'an id map the kernel refuses (341 lines)',
      (s) => ({
        ...s,
        ids: {
          kind: 'maps',
          maps: {
            uid: IdMap.from(Array.from({ length: 341 }, (_, i) => ({ first: i, lower: 1000 + i * 2, count: 1 }))),
            gid: pair('0:100000:65536').gid,
          },
        },
        fs: { kind: 'none' },
      }),
    ],
    ['ERR_REGISTRY_UNAVAILABLE', '--allocate without a registry', (s) => ({ ...s, ids: { kind: 'allocate' } })],
    ['ERR_USAGE', 'a bad container name', (s) => ({ ...s, name: 'no/slashes' })],
    ['ERR_USAGE', 'a bad host name', (s) => ({ ...s, hostname: 'x'.repeat(65) })],
  ];
  for (const [code, what, change] of cases) {
    it(`refuses ${what} (${code}) and makes nothing`, async () => {
      const tag = marker('bad');
      await assert.rejects(startContainer(change(good(tag))), (e: { code?: string }) => {
        assert.equal(e.code, code);
        return true;
      });
      nothingMade(tag);
    });
  }

  it('refuses a rootfs on a filesystem without idmapped mounts, naming it (ERR_FS_NO_IDMAP)', async () => {
    const tag = marker('ramfs');
    const dir = join(tmp.dir, 'ramfs');
    mkdirSync(dir);
    execFileSync('mount', ['-t', 'ramfs', 'fsidmap-test', dir]);
    try {
      for (const d of ['proc', 'dev', 'tmp', 'bin']) mkdirSync(join(dir, d));
      execFileSync('cp', [join(image, 'usr/bin/true'), join(dir, 'bin/true')]);
      execFileSync('chown', ['-R', '300000:300000', dir]);
      await assert.rejects(startContainer({ ...good(tag), rootfs: dir }), (e: { code?: string; context?: { fsType?: string } }) => {
        assert.equal(e.code, 'ERR_FS_NO_IDMAP');
        assert.equal(e.context?.fsType, 'ramfs');
        return true;
      });
      nothingMade(tag, [dir]);
      // The answer is cached per filesystem: the next run says so before it makes anything (no holder).
      await assert.rejects(startContainer({ ...good(tag), rootfs: dir }), (e: { code?: string; context?: { cached?: boolean } }) => {
        assert.equal(e.code, 'ERR_FS_NO_IDMAP');
        assert.equal(e.context?.cached, true);
        return true;
      });
      nothingMade(tag, [dir]);
    } finally {
      execFileSync('umount', [dir]);
      rmdirSync(dir);
    }
  });

  it('refuses a rootfs that is already an idmapped mount (ERR_ALREADY_IDMAPPED)', async () => {
    const tag = marker('idmapped');
    const view = join(tmp.dir, 'view');
    mkdirSync(view);
    const m = await cli(['mount', '--idmap', '0:100000:65536', '--fsidmap', '0:300000:65536', image, view]);
    assert.equal(m.code, 0, m.stderr);
    try {
      await assert.rejects(startContainer({ ...good(tag), rootfs: view }), { code: 'ERR_ALREADY_IDMAPPED' });
      nothingMade(tag, [view]);
    } finally {
      assert.equal((await cli(['umount', view])).code, 0);
    }
  });

  // The CLI's exit statuses for the same refusals: 2 for usage and map errors, 1 for refusals, 127 for a missing command.
  const cliCases: Array<[number, string, string[]]> = [
    [
      2,
      "an invalid map (the foundation's line-and-rule error)",
      ['--idmap', '0:100000:0', '--fsidmap', '0:300000:65536', '--rootfs', '@image', '--', '/bin/true'],
    ],
    [2, 'overlapping map lines', ['--idmap', '0 100000 10\n5 200000 10', '--rootfs', '@image', '--', '/bin/true']],
    [2, 'no command', ['--idmap', '0:100000:65536', '--rootfs', '@image']],
    [2, '--idmap with --allocate', ['--idmap', '0:100000:65536', '--allocate', '--', '/bin/true']],
    [2, 'no id map at all', ['--fsidmap', '0:300000:65536', '--', '/bin/true']],
    [2, '--uidmap without --gidmap', ['--uidmap', '0:100000:65536', '--', '/bin/true']],
    [2, '--fs with --fsidmap', ['--idmap', '0:100000:65536', '--fsidmap', '0:300000:65536', '--fs', 'img', '--', '/bin/true']],
    [2, 'a volume without DST', ['--idmap', '0:100000:65536', '--volume', '/tmp', '--', '/bin/true']],
    [2, 'an unknown flag', ['--idmap', '0:100000:65536', '--privileged', '--', '/bin/true']],
    [
      1,
      'an fsid map that leaves the image unmapped',
      ['--idmap', '0:100000:65536', '--fsidmap', '0:400000:65536', '--rootfs', '@image', '--', '/bin/true'],
    ],
    [1, 'a missing rootfs', ['--idmap', '0:100000:65536', '--rootfs', '/nonexistent/rootfs', '--', '/bin/true']],
    [
      127,
      'a command the image lacks',
      ['--idmap', '0:100000:65536', '--fsidmap', '0:300000:65536', '--rootfs', '@image', '--', '/no/such/cmd'],
    ],
  ];
  for (const [status, what, args] of cliCases) {
    it(`fsidmap run exits ${status} for ${what}`, async () => {
      const tag = marker('cli');
      const r = await cli(['run', '--name', tag, ...args.map((a) => (a === '@image' ? image : a))], { FSIDMAP_RUN_DIR: runDir });
      assert.equal(r.code, status, r.stderr);
      // Messages name the command ("fsidmap run: …", "fsidmap run needs …") or start "fsidmap: ".
      assert.match(r.stderr, /^fsidmap(: | run[: ])/, 'says what is wrong');
      nothingMade(tag);
    });
  }

  it('fsidmap run exits 1 with ERR_NOT_ROOT semantics when not root', () => {
    const r = spawnSync(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        '--',
        process.execPath,
        cliPath,
        'run',
        '--idmap',
        '0:100000:65536',
        '--rootfs',
        image,
        '--',
        '/bin/true',
      ],
      { encoding: 'utf8', env: { ...process.env, FSIDMAP_RUN_DIR: join(tmp.dir, 'run-nobody') }, cwd: '/' },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /need root/);
    assert.equal(existsSync(join(tmp.dir, 'run-nobody')), false);
  });
});
