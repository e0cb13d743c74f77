import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  lchownSync as lchown,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrokerClient } from '../../src/broker/client.js';
import { FsidmapError } from '../../src/errors.js';
import { closeDescriptor } from '../../src/kernel/socket/unix-socket.js';
import { BrokerWorld, mountProbe, repoRoot, rootSkip, type TestUser } from './support/broker-world.js';

/**
 * Idmapped mounts through the broker: what a peer may have mounted, what
 * it gets (a detached mount whose flags its own root cannot clear), and
 * every way of asking for more being refused with a reason, an audit line,
 * and nothing mounted.
 */
describe('broker mounts', { skip: rootSkip }, () => {
  let w: BrokerWorld;
  let a: TestUser, b: TestUser;
  let ca: BrokerClient;

  const own = (u: TestUser, off = 0, count = 65536) => `${u.sub.start + off} ${u.sub.start + 65536 + off} ${count}`;
  const mapOf = (u: TestUser) => ({ uid: own(u), gid: own(u) });

  before(async () => {
    w = await BrokerWorld.create({ users: 2, limits: { default: { requestsPerSecond: 10000, burst: 10000 } } });
    [a, b] = w.users;
    for (const u of w.users) {
      const img = join(u.home, 'img');
      mkdirSync(img);
      writeFileSync(join(img, 'MINE'), u.name);
      writeFileSync(join(img, 'f'), 'x');
      chownSync(join(img, 'f'), u.sub.start + 5, u.sub.start + 6);
      chownSync(join(img, 'MINE'), u.sub.start, u.sub.start);
      chownSync(img, u.sub.start, u.sub.start);
      // A setuid file of the user's own, the thing a view mapped to root would turn into a root shell.
      writeFileSync(join(u.home, 'suid'), '#!/bin/sh\n');
      chownSync(join(u.home, 'suid'), u.uid, u.gid);
      chmodSync(join(u.home, 'suid'), 0o4755);
    }
    ca = await w.connectAs(a);
  });

  after(async () => {
    ca?.close();
    const left = w ? await w.leftovers() : { mounts: [], processes: [], registry: [] };
    await w?.destroy();
    assert.deepEqual(left, { mounts: [], processes: [], registry: [] }, 'mounts, helper processes or registry entries were left behind');
  });

  /** Expects a refusal with code (and rule); checks the audit line and that no descriptor came back. */
  async function refused(p: () => Promise<unknown>, code: string, rule?: string): Promise<FsidmapError> {
    const before = w.audit().length;
    let err: unknown;
    try {
      const got = await p();
      const fd = (got as { fd?: number }).fd;
      if (typeof fd === 'number') closeDescriptor(fd);
      assert.fail(`expected ${code}, got success`);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof FsidmapError, String(err));
    assert.equal(err.code, code, err.message);
    const lines = w.auditOf(a, before);
    assert.equal(lines.length, 1, 'one audit line per request');
    assert.equal(lines[0].decision, 'refused');
    assert.equal(lines[0].code, code);
    assert.ok(lines[0].reason.length > 10, 'the audit line gives a reason');
    if (rule !== undefined) assert.match(lines[0].reason + JSON.stringify(lines[0]), new RegExp(rule));
    return err;
  }

  it("mounts a directory of the peer's range, seen through the mount map, as a locked nodev detached mount", async () => {
    const m = await ca.mount({ path: join(a.home, 'img'), mountMap: mapOf(a) });
    try {
      const st = statSync(`/proc/self/fd/${m.fd}/f`);
      assert.equal(st.uid, a.sub.start + 65536 + 5, 'on-disk +5 shows as view +5');
      assert.equal(st.gid, a.sub.start + 65536 + 6);
      assert.deepEqual(m.result.flags, ['nodev']);
      const line = w.audit().at(-1)!;
      assert.equal(line.decision, 'allowed');
      assert.equal(line.op, 'mount');
      assert.equal(line.peer?.uid, a.uid);
    } finally {
      closeDescriptor(m.fd);
    }
  });

  it('derives the mount map from an id map and an fsid map', async () => {
    const idmap = `0:${a.sub.start + 65536}:65536`,
      fsidmap = `0:${a.sub.start}:65536`;
    const m = await ca.mount({ path: join(a.home, 'img'), idmap: { uid: idmap, gid: idmap }, fsidmap: { uid: fsidmap, gid: fsidmap } });
    try {
      assert.equal(statSync(`/proc/self/fd/${m.fd}/f`).uid, a.sub.start + 65536 + 5);
      assert.match(String(m.result.uidMap), new RegExp(`^\\s*${a.sub.start}\\s+${a.sub.start + 65536}\\s+65536`));
    } finally {
      closeDescriptor(m.fd);
    }
  });

  it("locks nodev, nosuid and rdonly: the peer's own root cannot clear them", async () => {
    for (const extra of [{}, { nosuid: true, readonly: true }]) {
      const m = await ca.mount({ path: join(a.home, 'img'), mountMap: mapOf(a), ...extra });
      try {
        const probe = w.spawnAs(a, [mountProbe], { stdio: ['ignore', 'pipe', 'pipe', m.fd] });
        let out = '';
        probe.stdout!.setEncoding('utf8').on('data', (d: string) => {
          out += d;
        });
        await new Promise((r) => probe.once('close', r));
        const r = JSON.parse(out) as Record<string, number | string>;
        assert.equal(r.attach, 0, `the peer can attach the mount in its own namespace: ${out}`);
        assert.match(String(r.flags), /nodev/);
        assert.equal(r.clear_nodev, 1 /* EPERM */, `nodev must be locked: ${out}`);
        assert.equal(r.clone_clear_nodev, 1, `nodev stays locked on a clone: ${out}`);
        if ('nosuid' in extra) {
          assert.match(String(r.flags), /nosuid/);
          assert.match(String(r.flags), /ro/);
          assert.equal(r.clear_nosuid, 1, `nosuid must be locked: ${out}`);
          assert.equal(r.clear_rdonly, 1, `rdonly must be locked: ${out}`);
        }
      } finally {
        closeDescriptor(m.fd);
      }
    }
  });

  it("refuses another user's range on the on-disk side", async () => {
    await refused(
      () => ca.mount({ path: join(a.home, 'img'), mountMap: { uid: `${b.sub.start} ${a.sub.start} 65536`, gid: own(a) } }),
      'ERR_BROKER_IDS_NOT_OWNED',
      'on-disk',
    );
  });

  it("refuses another user's range on the view side", async () => {
    await refused(
      () => ca.mount({ path: join(a.home, 'img'), mountMap: { uid: own(a), gid: `${a.sub.start} ${b.sub.start} 65536` } }),
      'ERR_BROKER_IDS_NOT_OWNED',
      'view',
    );
  });

  it('refuses root on the on-disk side', async () => {
    await refused(
      () => ca.mount({ path: join(a.home, 'img'), mountMap: { uid: `0 ${a.sub.start} 1`, gid: own(a) } }),
      'ERR_BROKER_IDS_NOT_OWNED',
      'host root',
    );
  });

  it("refuses a view that would show the peer's setuid file as owned by host root", async () => {
    assert.equal(lstatSync(join(a.home, 'suid')).mode & 0o4000, 0o4000);
    await refused(
      () => ca.mount({ path: a.home, mountMap: { uid: `${a.uid} 0 1`, gid: `${a.gid} ${a.gid} 1` } }),
      'ERR_BROKER_IDS_NOT_OWNED',
      'view',
    );
    await refused(
      () => ca.mount({ path: a.home, idmap: { uid: '0:0:1', gid: `0:${a.gid}:1` }, fsidmap: { uid: `0:${a.uid}:1`, gid: `0:${a.gid}:1` } }),
      'ERR_BROKER_IDS_NOT_OWNED',
      'host root',
    );
  });

  it("refuses a source owned by root (/etc), by another user (their home), or root-owned inside the peer's home", async () => {
    await refused(() => ca.mount({ path: '/etc', mountMap: mapOf(a) }), 'ERR_BROKER_PATH', 'owned by root');
    await refused(() => ca.mount({ path: join(b.home, 'img'), mountMap: mapOf(a) }), 'ERR_BROKER_PATH', 'neither root nor you');
    // The walk runs with the peer's identity: a directory it cannot search stops it even when the rules would pass.
    const closed = join(w.base, 'closed');
    mkdirSync(join(closed, 'inside'), { recursive: true });
    chmodSync(closed, 0o700);
    chownSync(join(closed, 'inside'), a.uid, a.gid);
    await refused(() => ca.mount({ path: join(closed, 'inside'), mountMap: mapOf(a) }), 'ERR_BROKER_PATH', 'cannot be searched');
    chmodSync(b.home, 0o711);
    try {
      await refused(() => ca.mount({ path: join(b.home, 'img'), mountMap: mapOf(a) }), 'ERR_BROKER_PATH', 'neither root nor you');
    } finally {
      chmodSync(b.home, 0o700);
    }
    mkdirSync(join(a.home, 'rootdir'));
    await refused(() => ca.mount({ path: join(a.home, 'rootdir'), mountMap: mapOf(a) }), 'ERR_BROKER_PATH', 'owned by root');
  });

  it('refuses symlinks, "..", relative and missing paths', async () => {
    symlinkSync('/etc', join(a.home, 'link'));
    await refused(() => ca.mount({ path: join(a.home, 'link'), mountMap: mapOf(a) }), 'ERR_BROKER_PATH', 'symbolic link');
    await refused(() => ca.mount({ path: join(a.home, 'link', 'ssl'), mountMap: mapOf(a) }), 'ERR_BROKER_PATH', 'symbolic link');
    await refused(() => ca.mount({ path: `${a.home}/img/../img`, mountMap: mapOf(a) }), 'ERR_BROKER_PATH', '\\.\\.');
    await refused(() => ca.mount({ path: 'img', mountMap: mapOf(a) }), 'ERR_BROKER_PATH', 'absolute');
    await refused(() => ca.mount({ path: join(a.home, 'nope'), mountMap: mapOf(a) }), 'ERR_BROKER_PATH', 'does not exist');
  });

  it('refuses a regular file and a /proc/PID of the peer early, with the reason, before any helper runs', async () => {
    const file = join(a.home, 'plain-file');
    writeFileSync(file, 'x');
    chownSync(file, a.uid, a.gid);
    const e = await refused(() => ca.mount({ path: file, mountMap: mapOf(a) }), 'ERR_BROKER_PATH', 'source-type');
    assert.match(e.message, /regular file: the broker mounts directories only/);
    const p = w.spawnAs(a, ['sleep', '30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 50));
      const e2 = await refused(() => ca.mount({ path: `/proc/${p.pid}`, mountMap: mapOf(a) }), 'ERR_BROKER_PATH', 'no-idmap-fs');
      assert.match(e2.message, /is on proc, which the kernel cannot idmap/);
    } finally {
      p.kill('SIGKILL');
    }
  });

  it('never mounts what a symlink swapped in between check and use points at (raced for real)', async () => {
    // home/cur flips between a directory of A's (with MINE) and a symlink to /etc; home/mid flips the
    // same way one component up, to a root-owned directory that has a "sub" of its own.
    const dir = join(a.home, 'race');
    mkdirSync(dir);
    chownSync(dir, a.uid, a.gid);
    const realCur = join(dir, 'cur'),
      realMid = join(dir, 'mid');
    mkdirSync(realCur);
    writeFileSync(join(realCur, 'MINE'), 'a');
    mkdirSync(join(dir, 'mid'));
    mkdirSync(join(dir, 'mid', 'sub'));
    writeFileSync(join(dir, 'mid', 'sub', 'MINE'), 'a');
    const rootSide = join(w.base, 'rootside');
    mkdirSync(join(rootSide, 'sub'), { recursive: true });
    writeFileSync(join(rootSide, 'sub', 'ROOTS'), 'root');
    chmodSync(rootSide, 0o755);
    chmodSync(join(rootSide, 'sub'), 0o755);
    symlinkSync('/etc', join(dir, 'cur-link'));
    symlinkSync(rootSide, join(dir, 'mid-link'));
    for (const p of [realCur, join(realCur, 'MINE'), realMid, join(realMid, 'sub'), join(realMid, 'sub', 'MINE')])
      chownSync(p, a.uid, a.gid);
    for (const p of [join(dir, 'cur-link'), join(dir, 'mid-link')]) lchown(p, a.uid, a.gid);
    const swapper = join(repoRoot, 'dist/test/native/broker-swap');
    const swaps = [w.spawnAs(a, [swapper, dir, 'cur', 'cur-link', '8']), w.spawnAs(a, [swapper, dir, 'mid', 'mid-link', '8'])];
    const counts = { mine: 0, refused: 0, foreign: 0 };
    const until = Date.now() + 6000;
    try {
      for (let i = 0; Date.now() < until && (i < 60 || counts.mine < 3 || counts.refused < 3); i++) {
        for (const path of [join(dir, 'cur'), join(dir, 'mid', 'sub')]) {
          try {
            const m = await ca.mount({ path, mountMap: { uid: `${a.uid} ${a.uid} 1`, gid: `${a.gid} ${a.gid} 1` } });
            const names = readdirSync(`/proc/self/fd/${m.fd}`);
            closeDescriptor(m.fd);
            if (names.includes('MINE') && names.length === 1) counts.mine++;
            else counts.foreign++;
          } catch (e) {
            assert.ok(e instanceof FsidmapError && e.code === 'ERR_BROKER_PATH', String(e));
            counts.refused++;
          }
        }
      }
    } finally {
      for (const s of swaps) s.kill('SIGKILL');
    }
    assert.equal(counts.foreign, 0, `a mount of something else than the peer's directory was made: ${JSON.stringify(counts)}`);
    assert.ok(counts.mine > 0 && counts.refused > 0, `the race must have gone both ways: ${JSON.stringify(counts)}`);
  });

  it('never mounts through FUSE, not even a FUSE mount that appears during the walk (raced for real)', async (t) => {
    // home/fuse/img is a directory of A's; a FUSE file system (bindfs) is mounted over home/fuse and taken away
    // again, over and over, while A asks for mounts of home/fuse/img. Through FUSE, img shows VIAFUSE.
    const src = join(a.home, 'fsrc'),
      mnt = join(a.home, 'fuse');
    for (const d of [src, join(src, 'img'), mnt, join(mnt, 'img')]) mkdirSync(d);
    writeFileSync(join(src, 'img', 'VIAFUSE'), '');
    writeFileSync(join(mnt, 'img', 'UNDER'), '');
    for (const d of [src, mnt]) chownSync(d, a.uid, a.gid);
    for (const p of [join(src, 'img'), join(src, 'img', 'VIAFUSE'), join(mnt, 'img'), join(mnt, 'img', 'UNDER')])
      chownSync(p, a.sub.start, a.sub.start);
    const run = (cmd: string, args: string[]) =>
      new Promise<number>((r) => {
        const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        p.stderr.setEncoding('utf8').on('data', (d: string) => process.stderr.write(`${cmd}: ${d}`));
        p.once('close', (c) => r(c ?? 1));
      });
    const fuseMounted = () => readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `);
    assert.equal(await run('bindfs', ['-o', 'allow_other,nonempty', src, mnt]), 0, 'bindfs mounts');
    try {
      // Steadily mounted: refused, with the rule.
      await refused(() => ca.mount({ path: join(mnt, 'img'), mountMap: mapOf(a) }), 'ERR_BROKER_PATH', 'untrusted-fs');
    } finally {
      await run('umount', ['-l', mnt]);
    }
    let flipping = true;
    const flipper = (async () => {
      while (flipping) {
        await run('bindfs', ['-o', 'allow_other,nonempty', src, mnt]);
        await run('umount', ['-l', mnt]);
      }
    })();
    const counts = { under: 0, fuse: 0, refused: 0, other: 0 };
    const until = Date.now() + 8000;
    try {
      for (let i = 0; Date.now() < until && (i < 40 || counts.under < 3 || counts.refused < 3); i++) {
        try {
          const m = await ca.mount({ path: join(mnt, 'img'), mountMap: mapOf(a) });
          const names = readdirSync(`/proc/self/fd/${m.fd}`);
          closeDescriptor(m.fd);
          if (names.includes('VIAFUSE')) counts.fuse++;
          else if (names.includes('UNDER')) counts.under++;
          else counts.other++;
        } catch (e) {
          assert.ok(e instanceof FsidmapError && e.code === 'ERR_BROKER_PATH', String(e));
          assert.match(JSON.stringify((e as FsidmapError).context) + e.message, /untrusted-fs|on a fuse file system|could be FUSE/);
          counts.refused++;
        }
      }
    } finally {
      flipping = false;
      await flipper;
      while (fuseMounted()) await run('umount', ['-l', mnt]);
    }
    t.diagnostic(`FUSE race: ${JSON.stringify(counts)}`);
    assert.equal(counts.fuse + counts.other, 0, `a mount through FUSE was handed out: ${JSON.stringify(counts)}`);
    assert.ok(counts.under > 0 && counts.refused > 0, `the race must have gone both ways: ${JSON.stringify(counts)}`);
  });

  it('leaves nothing mounted after refusals, and the broker is still up', async () => {
    assert.ok(w.brokerAlive());
    assert.deepEqual(w.leftoverMounts(), []);
    assert.ok(existsSync(w.socket));
    const h = await ca.hello();
    assert.equal(h.peer.uid, a.uid);
  });
});
