// `fsidmap oci config` run by real OCI runtimes (Debian 12's crun and runc): the container each starts is compared with `fsidmap run`'s.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, type Collected, makeToyImage, mountsUnder, rootSkip, tempDir } from './support/run-fixtures.js';

/** The runtime's version ("1.8.1"), or null when it is not installed. */
function versionOf(runtime: string): string | null {
  const r = spawnSync(runtime, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? (/version (\d+\.\d+\.\d+)/.exec(r.stdout)?.[1] ?? null) : null;
}
const atLeast = (v: string, want: [number, number]) => {
  const [a, b] = v.split('.').map(Number);
  return a > want[0] || (a === want[0] && b >= want[1]);
};
const CRUN = versionOf('crun'),
  RUNC = versionOf('runc');
/** Mount maps arrived in runc 1.2.0; 1.1 reads config.json without them. */
const runcHonoursMountMaps = RUNC !== null && atLeast(RUNC, [1, 2]);

/**
 * What the container shows of itself: its maps, owners and modes inside,
 * its ids, capabilities and environment, and where a write lands (TAG names
 * the file, so each runtime writes its own).
 */
const PROBE = `
cat /proc/self/uid_map /proc/self/gid_map
stat -c '%n %u:%g %a' / /opt/seven /home/alice /etc/secret /shared /shared/f /ro /ro/g
id
cat /proc/sys/kernel/hostname
while read -r l; do case "$l" in Cap*|NoNewPrivs*|Seccomp:*) echo "$l";; esac; done < /proc/self/status
export -p
pwd
if touch /shared/by-$1 2>/dev/null; then stat -c 'wrote %u:%g' /shared/by-$1; else echo 'write refused'; fi
if touch /ro/by-$1 2>/dev/null; then echo 'ro written'; else echo 'ro refused'; fi
`;

function spawnCollect(cmd: string, args: readonly string[], cwd: string): Promise<Collected> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('oci config: real OCI runtimes start the container run would', { skip: rootSkip ?? (CRUN ? undefined : 'needs crun') }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let shifted: string, plain: string, mnt: string, vol: string, ro: string, plainVol: string, state: string;

  before(async () => {
    tmp = tempDir('oci-rt');
    // The runtimes bind the rootfs and volumes from inside the user namespace: its root must search the way there.
    chmodSync(tmp.dir, 0o711);
    [shifted, plain, mnt, vol, ro, plainVol, state] = ['shifted', 'plain', 'mnt', 'vol', 'ro', 'plain-vol', 'state'].map((d) => {
      const p = join(tmp.dir, d);
      mkdirSync(p);
      return p;
    });
    // Stored at 300000 (the shared image), seen by a container in 100000 through its mount map.
    makeToyImage(shifted, 300000);
    for (const r of [shifted]) for (const d of ['shared', 'ro']) mkdirSync(join(r, d), { recursive: true });
    chownSync(join(shifted, 'ro'), 300000, 300000);
    // Stored at the container's own ids: no fsid map, a plain bind mount in run.
    makeToyImage(plain, 100000);
    mkdirSync(join(plain, 'ro'));
    chownSync(join(plain, 'ro'), 100000, 100000);
    writeFileSync(join(vol, 'f'), 'v\n');
    chownSync(vol, 300000, 300000);
    chownSync(join(vol, 'f'), 300005, 300005);
    chmodSync(vol, 0o777);
    // A read-only volume with an fsid map of its own.
    writeFileSync(join(ro, 'g'), 'g\n');
    chownSync(ro, 400000, 400000);
    chownSync(join(ro, 'g'), 400007, 400007);
    writeFileSync(join(plainVol, 'f'), 'v\n');
    chownSync(plainVol, 100000, 100000);
    chownSync(join(plainVol, 'f'), 100005, 100005);
    chmodSync(plainVol, 0o777);
    const m = await cli(['mount', '--idmap', '0:100000:65536', '--fsidmap', '0:300000:65536', shifted, mnt]);
    assert.equal(m.code, 0, m.stderr);
  });
  after(async () => {
    const u = await cli(['umount', mnt]);
    assert.equal(u.code, 0, u.stderr);
    assert.deepEqual(mountsUnder(tmp.dir), [], 'no mount is left behind');
    rmdirSync(mnt);
    tmp.remove();
  });

  /** The same container, as fsidmap run options and as oci config options. */
  const cases = {
    shifted: (user: string[]) => ({
      run: ['--idmap', '0:100000:65536', '--fsidmap', '0:300000:65536', '--rootfs', shifted, ...user],
      volumes: ['--volume', `${vol}:/shared`, '--volume', `${ro}:/ro:ro:fsidmap=0:400000:65536`],
      rootPath: ['--root-path', mnt],
    }),
    plain: (user: string[]) => ({
      run: ['--idmap', '0:100000:65536', '--rootfs', plain, ...user],
      volumes: ['--volume', `${plainVol}:/shared`, '--volume', `${join(plain, 'ro')}:/ro:ro`],
      rootPath: [],
    }),
  };

  async function viaRun(c: ReturnType<typeof cases.shifted>, tag: string): Promise<string> {
    const r = await cli(['run', '--name', 'ocirt', ...c.run, ...c.volumes, '--', 'sh', '-c', PROBE, 'sh', tag]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  }

  async function viaRuntime(runtime: 'crun' | 'runc', c: ReturnType<typeof cases.shifted>, tag: string): Promise<Collected> {
    const bundle = join(tmp.dir, `bundle-${tag}`);
    mkdirSync(bundle);
    const out = join(bundle, 'config.json');
    const g = await cli([
      'oci',
      'config',
      '--name',
      'ocirt',
      ...c.run,
      ...c.rootPath,
      ...c.volumes,
      '--output',
      out,
      '--',
      'sh',
      '-c',
      PROBE,
      'sh',
      tag,
    ]);
    assert.equal(g.code, 0, g.stderr);
    let r: Collected;
    if (runtime === 'runc') {
      r = await spawnCollect('runc', ['--root', state, 'run', tag], bundle);
    } else {
      // crun 1.8 refuses a host with cgroup v1 hierarchies ("hybrid mode"): a private mount namespace with
      // cgroup v2 mounted, and no cgroup at all, as run makes none.
      const hybrid =
        statSync('/sys/fs/cgroup').isDirectory() &&
        spawnSync('stat', ['-fc', '%T', '/sys/fs/cgroup'], { encoding: 'utf8' }).stdout.trim() !== 'cgroup2fs';
      const crun = `exec crun --cgroup-manager=disabled --root ${state} run ${tag}`;
      r = await spawnCollect('unshare', ['-m', 'sh', '-c', hybrid ? `mount -t cgroup2 none /sys/fs/cgroup && ${crun}` : crun], bundle);
    }
    assert.deepEqual(
      readdirSync(state).filter((e) => e === tag),
      [],
      `${runtime} left no state of the container`,
    );
    return r;
  }

  const norm = (out: string, tag: string) => out.replaceAll(`by-${tag}`, 'by-TAG');
  const landed = (dir: string, tag: string) => {
    const st = lstatSync(join(dir, `by-${tag}`));
    return `${st.uid}:${st.gid}`;
  };

  for (const [user, wantLanded] of [
    [[], '300000:300000'],
    [['--user', '1000'], '301000:301000'],
  ] as const) {
    it(`crun ${CRUN}: an fsid-mapped rootfs (--root-path) and idmapped volumes${user.length ? ', --user 1000' : ''}: what run shows, writes landing alike`, async () => {
      const c = cases.shifted([...user]);
      const tag = `s${user.length}`;
      const ran = await viaRun(c, `run-${tag}`);
      const r = await viaRuntime('crun', c, `crun-${tag}`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(norm(r.stdout, `crun-${tag}`), norm(ran, `run-${tag}`));
      assert.match(ran, /\/shared\/f 5:5 644/, 'the volume shows its on-disk 300005 as 5');
      assert.match(ran, /\/ro\/g 7:7 644/, 'the read-only volume its on-disk 400007 as 7 (its own fsid map)');
      assert.match(ran, /ro refused/);
      assert.equal(landed(vol, `run-${tag}`), wantLanded);
      assert.equal(landed(vol, `crun-${tag}`), wantLanded);
    });
  }

  for (const runtime of ['crun', 'runc'] as const) {
    it(
      `${runtime} ${runtime === 'crun' ? CRUN : RUNC}: a rootfs and volumes with no fsid map (plain binds): what run shows`,
      { skip: runtime === 'runc' && !RUNC ? 'needs runc' : undefined },
      async () => {
        const c = cases.plain([]);
        const ran = await viaRun(c, `run-p-${runtime}`);
        const r = await viaRuntime(runtime, c, `${runtime}-p`);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(norm(r.stdout, `${runtime}-p`), norm(ran, `run-p-${runtime}`));
        assert.equal(landed(plainVol, `${runtime}-p`), '100000:100000');
      },
    );
  }

  it(
    `runc ${RUNC}: ignores mount uidMappings — the fsid-mapped volume is a plain bind (65534 inside, writes land in the container's range), the --root-path rootfs is right`,
    { skip: !RUNC ? 'needs runc' : runcHonoursMountMaps ? `runc ${RUNC} honours mount maps (the next test)` : undefined },
    async () => {
      const c = cases.shifted([]);
      const r = await viaRuntime('runc', c, 'runc-s0');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^\/ 0:0 755$/m, 'the rootfs through --root-path, an idmapped mount runc only binds');
      assert.match(r.stdout, /^\/opt\/seven 7:7 644$/m);
      assert.match(r.stdout, /^\/shared\/f 65534:65534 644$/m, 'the volume unmapped: runc bound it without its mount map');
      // The volume is world-writable here: the write goes through, and lands at the container's own 100000, not at the 300000 it is stored at.
      assert.match(r.stdout, /^wrote 0:0$/m);
      assert.equal(landed(vol, 'runc-s0'), '100000:100000');
    },
  );

  it(
    `runc ${RUNC}: fsid-mapped volumes as run shows them`,
    {
      skip: !RUNC
        ? 'needs runc'
        : runcHonoursMountMaps
          ? undefined
          : `runc ${RUNC} ignores mount uidMappings/gidMappings (idmapped mounts arrived in runc 1.2.0)`,
    },
    async () => {
      const c = cases.shifted([]);
      const ran = await viaRun(c, 'run-r');
      const r = await viaRuntime('runc', c, 'runc-r');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(norm(r.stdout, 'runc-r'), norm(ran, 'run-r'));
    },
  );
});
