// The seed's example on the real kernel: one image stored on disk at
// 300000+, two containers with different id maps (0 100000 65536 and
// 0 200000 65536) and the same fsid map (0 300000 65536), at the same time.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Container, type RunSpec, startContainer } from '../../src/container/index.js';
import { parseMap } from '../../src/idmap/index.js';
import {
  childrenOf,
  collect,
  hostIds,
  makeToyImage,
  marker,
  mountsUnder,
  processesWith,
  rootSkip,
  tempDir,
  until,
} from './support/run-fixtures.js';

const pair = (spec: string) => {
  const m = parseMap(spec);
  return { uid: m, gid: m };
};

/** Parses `ls -ln` lines into name → [uid, gid]. */
function owners(ls: string): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const line of ls.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 9 || !/^[-dlcbps]/.test(f[0])) continue;
    out.set(f[f.length - 1 - (f[0].startsWith('l') ? 2 : 0)], [Number(f[2]), Number(f[3])]);
  }
  return out;
}

function section(out: string, name: string): string {
  const m = new RegExp(`== ${name}\\n([\\s\\S]*?)(?:\\n== |$)`).exec(out);
  return m ? m[1] : '';
}

describe("the seed's example on the real kernel", { skip: rootSkip }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let image: string;
  let shared: string;
  before(() => {
    tmp = tempDir('seed');
    process.env.FSIDMAP_RUN_DIR = join(tmp.dir, 'run');
    image = join(tmp.dir, 'image');
    mkdirSync(image);
    makeToyImage(image, 300000);
    shared = join(tmp.dir, 'shared');
    mkdirSync(shared, { mode: 0o755 });
    chownSync(shared, 300000, 300000);
  });
  after(() => {
    assert.deepEqual(mountsUnder(tmp.dir), [], 'no mount left under the test directory');
    tmp.remove();
  });

  const script = (tag: string, who: string) => `
echo "== id"; id -u; id -g
echo "== root"; ls -ln /
echo "== opt"; ls -ln /opt
echo "== secret"; cat /etc/secret
echo "== write"
echo created > /data/created-${who} && echo created-ok
echo seven > /data/chown-${who} && chown 7:7 /data/chown-${who} && echo chown-ok
echo from-${who} > /shared/from-${who}
echo "== wait"
while [ ! -e /shared/go ]; do sleep 0.05; done
echo "== shared"; ls -ln /shared
: ${tag}`;

  const spec = (name: string, idmap: string, tag: string, who: string): RunSpec => ({
    name,
    ids: { kind: 'maps', maps: pair(idmap) },
    fs: { kind: 'maps', maps: pair('0:300000:65536') },
    rootfs: image,
    volumes: [{ source: shared, target: '/shared', readonly: false, fsidmap: null }],
    command: ['/bin/sh', '-c', script(tag, who)],
  });

  it('runs A (0 100000 65536) and B (0 200000 65536) at once on one image stored at 300000+', async () => {
    const tag = marker('seed');
    const a = await startContainer(spec(`${tag}-a`, '0:100000:65536', tag, 'A'), { stdio: ['ignore', 'pipe', 'pipe'] });
    const b = await startContainer(spec(`${tag}-b`, '0:200000:65536', tag, 'B'), { stdio: ['ignore', 'pipe', 'pipe'] });
    const outA = collect(a),
      outB = collect(b);
    // Both are running at the same time: each has written its file to the shared volume and waits.
    await until('both containers to reach the wait', () => existsSync(join(shared, 'from-A')) && existsSync(join(shared, 'from-B')));
    const cmdOf = (c: Container) => until('CMD of the container', () => childrenOf(c.initPid)[0]);
    const [cmdA, cmdB] = [await cmdOf(a), await cmdOf(b)];

    // From the host, A's processes run as kuid 100000 and B's as 200000 (init and CMD alike).
    for (const pid of [a.initPid, cmdA])
      assert.deepEqual(hostIds(pid), { uid: [100000, 100000, 100000, 100000], gid: [100000, 100000, 100000, 100000] });
    for (const pid of [b.initPid, cmdB])
      assert.deepEqual(hostIds(pid), { uid: [200000, 200000, 200000, 200000], gid: [200000, 200000, 200000, 200000] });

    // A cannot signal B: a process with A's credentials (A's user namespace, its uid 0) gets EPERM
    // for B's CMD, while it may signal A's own. Signals follow the id maps, not the fsid maps.
    const asA = (target: number) =>
      spawnSync('nsenter', ['--target', String(cmdA), '--user', '--setuid', '0', '--setgid', '0', '--', 'kill', '-0', String(target)], {
        encoding: 'utf8',
      });
    const own = asA(cmdA),
      other = asA(cmdB);
    assert.equal(own.status, 0, `A signals its own process: ${own.stderr}`);
    assert.notEqual(other.status, 0, 'A must not be able to signal B');
    assert.match(other.stderr, /Operation not permitted/);

    writeFileSync(join(shared, 'go'), '');
    const [ra, rb] = [await outA, await outB];
    for (const [who, r] of [
      ['A', ra],
      ['B', rb],
    ] as const) {
      assert.equal(r.code, 0, `${who} exits 0: ${r.stderr}`);
      // id -u is 0; the image's files show as owned by 0..N, not 300000+ and not 65534.
      assert.equal(section(r.stdout, 'id').trim(), '0\n0');
      const root = owners(section(r.stdout, 'root'));
      for (const d of ['etc', 'data', 'root', 'bin']) assert.deepEqual(root.get(d), [0, 0], `${who} sees /${d} as 0:0`);
      assert.deepEqual(root.get('home'), [0, 0]);
      assert.deepEqual(owners(section(r.stdout, 'opt')).get('seven'), [7, 7], `${who} sees /opt/seven (300007 on disk) as 7:7`);
      assert.equal(section(r.stdout, 'secret').trim(), 'only root', `${who}'s root reads the 0600 /etc/secret`);
      assert.match(section(r.stdout, 'write'), /created-ok\nchown-ok/, `${who}'s root writes the image`);
      // The volume is shared, with the same ownership view in both.
      const sh = owners(section(r.stdout, 'shared'));
      assert.deepEqual(sh.get('from-A'), [0, 0]);
      assert.deepEqual(sh.get('from-B'), [0, 0]);
      // Files created inside land on disk at 300000, chown 7:7 at 300007.
      const created = lstatSync(join(image, 'data', `created-${who}`));
      assert.deepEqual([created.uid, created.gid], [300000, 300000]);
      const chowned = lstatSync(join(image, 'data', `chown-${who}`));
      assert.deepEqual([chowned.uid, chowned.gid], [300007, 300007]);
      const inShared = lstatSync(join(shared, `from-${who}`));
      assert.deepEqual([inShared.uid, inShared.gid], [300000, 300000]);
    }
    assert.deepEqual(processesWith(tag), [], 'no process of either container is left');
    assert.deepEqual(
      readdirSync(join(tmp.dir, 'run', 'containers')).filter((f) => f.startsWith(tag)),
      [],
      'state files removed',
    );
  });

  it('without the fsid map, the same image shows as 65534 and the kernel refuses writes', async () => {
    const tag = marker('nofs');
    const c = await startContainer(
      {
        name: tag,
        ids: { kind: 'maps', maps: pair('0:100000:65536') },
        fs: { kind: 'none' },
        rootfs: image,
        command: [
          '/bin/sh',
          '-c',
          `
echo "== root"; ls -ln /
echo "== create"; touch /data/x 2>&1; echo "status $?"
echo "== chown"; chown 0:0 /opt/seven 2>&1; echo "status $?"
echo "== secret"; cat /etc/secret 2>&1; echo "status $?"
echo "== private"; ls /root 2>&1; echo "status $?"
: ${tag}`,
        ],
      },
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const r = await collect(c);
    assert.equal(r.code, 0, r.stderr);
    const root = owners(section(r.stdout, 'root'));
    for (const d of ['etc', 'data', 'bin']) assert.deepEqual(root.get(d), [65534, 65534], `/${d} shows as the overflow id`);
    // Root of the container has no capability over inodes whose owners it cannot map (kernel-semantics §3.5).
    assert.match(section(r.stdout, 'create'), /Permission denied\nstatus 1/);
    assert.match(section(r.stdout, 'chown'), /Operation not permitted\nstatus 1/);
    assert.match(section(r.stdout, 'secret'), /Permission denied\nstatus 1/);
    assert.match(section(r.stdout, 'private'), /Permission denied\nstatus [12]/);
    assert.equal(existsSync(join(image, 'data', 'x')), false);
  });

  it('--user runs CMD as an image user, with its groups, and files it makes land at 300000+uid', async () => {
    const tag = marker('user');
    const c = await startContainer(
      {
        name: tag,
        ids: { kind: 'maps', maps: pair('0:100000:65536') },
        fs: { kind: 'maps', maps: pair('0:300000:65536') },
        rootfs: image,
        user: { user: 'alice', group: null },
        command: [
          '/bin/sh',
          '-c',
          `echo "== id"; id -u; id -g; id -G; echo "== secret"; cat /etc/secret 2>&1; echo "status $?"; echo "== home"; touch /home/alice/mine && echo ok; echo "$HOME $USER"; : ${tag}`,
        ],
      },
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const r = await collect(c);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(section(r.stdout, 'id').trim(), '1000\n1000\n1000 50');
    assert.match(section(r.stdout, 'secret'), /Permission denied\nstatus 1/);
    assert.match(section(r.stdout, 'home'), /^ok\n\/home\/alice alice/);
    const st = lstatSync(join(image, 'home/alice/mine'));
    assert.deepEqual([st.uid, st.gid], [301000, 301000]);
  });

  it("without --rootfs runs on the host's own tree, seen through the id map, with its own proc, /tmp and host name", async () => {
    const tag = marker('hostroot');
    const c = await startContainer(
      {
        name: tag,
        ids: { kind: 'maps', maps: pair('0:100000:65536') },
        fs: { kind: 'none' },
        hostname: 'inside',
        command: [
          '/bin/sh',
          '-c',
          `echo "== map"; cat /proc/self/uid_map; echo "== root"; stat -c '%u:%g' /; echo "== tmp"; ls -A /tmp | wc -l; echo "== pid"; echo $$; echo "== host"; cat /proc/sys/kernel/hostname; : ${tag}`,
        ],
      },
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const r = await collect(c);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(section(r.stdout, 'map').trim().split(/\s+/).join(' '), '0 100000 65536');
    assert.equal(section(r.stdout, 'root').trim(), '65534:65534', "host root's files are unmapped inside");
    assert.equal(section(r.stdout, 'tmp').trim(), '0', "a fresh tmpfs, not the host's /tmp");
    assert.equal(section(r.stdout, 'pid').trim(), '2', 'CMD is pid 2 of a new pid namespace (init is 1)');
    assert.equal(section(r.stdout, 'host').trim(), 'inside');
  });

  it('gives each volume its own fsid map when asked (fsidmap=MAP), and keeps :ro volumes read-only', async () => {
    const tag = marker('vol');
    const other = join(tmp.dir, 'other');
    mkdirSync(other);
    chownSync(other, 500000, 500000);
    writeFileSync(join(other, 'f'), 'x');
    chownSync(join(other, 'f'), 500005, 500005);
    const c = await startContainer(
      {
        name: tag,
        ids: { kind: 'maps', maps: pair('0:100000:65536') },
        fs: { kind: 'maps', maps: pair('0:300000:65536') },
        rootfs: image,
        volumes: [
          { source: other, target: '/data', readonly: false, fsidmap: pair('0:500000:65536') },
          { source: shared, target: '/shared', readonly: true, fsidmap: null },
        ],
        command: ['/bin/sh', '-c', `echo "== data"; ls -ln /data; echo "== ro"; touch /shared/nope 2>&1; echo "status $?"; : ${tag}`],
      },
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const r = await collect(c);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(owners(section(r.stdout, 'data')).get('f'), [5, 5]);
    assert.match(section(r.stdout, 'ro'), /Read-only file system\nstatus 1/);
  });
});
