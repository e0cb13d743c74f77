import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { fstatSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrokerClient } from '../../src/broker/client.js';
import { FsidmapError } from '../../src/errors.js';
import { closeDescriptor } from '../../src/kernel/socket/unix-socket.js';
import { mappingOf, takeCensus } from '../../src/userns-census/index.js';
import { BrokerWorld, cliPath, type Holder, repoRoot, rootSkip, sleep, type TestUser } from './support/broker-world.js';

/**
 * Finding 1 of issue 13: a released range must not go to anyone else while
 * a user namespace on the host still maps it. The pool is one slot, so the
 * only range B could ever get is the one A released: B gets
 * ERR_POOL_EXHAUSTED for as long as A's namespace lives — through its
 * process, then only an nsfs descriptor, then only a bind mount of it — and
 * the range once nothing maps it.
 */
describe('broker: a released range drains while it is mapped', { skip: rootSkip }, () => {
  let w: BrokerWorld;
  let a: TestUser, b: TestUser;
  let ca: BrokerClient, cb: BrokerClient;
  const holders: Holder[] = [];
  // One aligned slot below the test users' subordinate ranges (1.5e9 and up), different per run.
  let pool = { start: 0, count: 65536 };

  before(async () => {
    const slot = 15259 + Math.floor(Math.random() * 2000);
    pool = { start: slot * 65536, count: 65536 };
    w = await BrokerWorld.create({
      users: 2,
      limits: { default: { requestsPerSecond: 10000, burst: 10000 }, users: {} },
      brokerArgs: ['--pool', `${pool.start}:${pool.count}`],
    });
    [a, b] = w.users;
    ca = await w.connectAs(a);
    cb = await w.connectAs(b);
  });

  after(async () => {
    ca?.close();
    cb?.close();
    for (const h of holders) await h.kill();
    const left = w ? await w.leftovers() : { mounts: [], processes: [], registry: [] };
    await w?.destroy();
    assert.deepEqual(left, { mounts: [], processes: [], registry: [] }, 'mounts, helper processes or registry entries were left behind');
  });

  async function exhausted(c: BrokerClient, name: string): Promise<void> {
    await assert.rejects(
      () => c.alloc(name),
      (e: unknown) => e instanceof FsidmapError && e.code === 'ERR_POOL_EXHAUSTED',
    );
  }

  it("holds A's released range while A's namespace maps it; B never gets it; freed when the last handle goes", async () => {
    const x = (await ca.alloc('web')).allocation;
    assert.deepEqual(x.uid, pool);
    const h = await w.holderOf(a);
    holders.push(h);
    await ca.setMaps(h.nsFd, h.pidfd, { uid: `0:${x.uid.start}:65536`, gid: `0:${x.gid.start}:65536` });

    const r = await ca.release('web');
    assert.equal(r.held, true, 'the release is answered with the range held');
    assert.match(r.heldBy!, new RegExp(`process ${h.pid}\\b`));
    assert.equal(r.released.state, 'draining');
    const line = w.auditOf(a).at(-1)!;
    assert.equal(line.op, 'release');
    assert.match(line.reason, /held draining/);
    assert.deepEqual(
      (await ca.list()).map((l) => [l.name, l.state]),
      [['web', 'draining']],
    );
    assert.deepEqual((await ca.hello()).owned.uid.allocated, [], 'a draining range is no longer A’s to map');
    const h2 = await w.holderOf(a);
    holders.push(h2);
    await assert.rejects(
      () => ca.setMaps(h2.nsFd, h2.pidfd, { uid: `0:${x.uid.start}:65536`, gid: `0:${x.gid.start}:65536` }),
      (e: unknown) => e instanceof FsidmapError && e.code === 'ERR_BROKER_IDS_NOT_OWNED',
    );

    // B aims at it by name and by any name: the only slot is still A's.
    await exhausted(cb, 'web');
    await exhausted(cb, 'other');

    // The process is gone; the test still holds the namespace's descriptor (as a hostile A would).
    await h.exit();
    await exhausted(cb, 'web');
    assert.deepEqual(
      (await ca.list()).map((l) => l.state),
      ['draining'],
    );

    // Only a bind mount of the namespace is left.
    const pin = join(w.base, 'pinned-ns');
    writeFileSync(pin, '');
    execFileSync('mount', ['--bind', `/proc/${process.pid}/fd/${h.nsFd}`, pin]);
    try {
      closeDescriptor(h.nsFd);
      (h as { nsFd: number }).nsFd = -1;
      await exhausted(cb, 'web');
    } finally {
      execFileSync('umount', [pin]);
    }

    // Nothing maps it any more: B gets it, and A's entry is gone.
    assert.deepEqual(await eventuallyAlloc(cb, 'web'), x.uid);
    assert.deepEqual(await ca.list(), []);
    await cb.release('web');
    assert.deepEqual(await cb.list(), []);
  });

  /** The next line the process prints. */
  function lineOf(child: ReturnType<BrokerWorld['spawnAs']>): Promise<string> {
    return new Promise((resolve, reject) => {
      let buf = '';
      const onData = (d: Buffer) => {
        buf += d.toString('utf8');
        const i = buf.indexOf('\n');
        if (i < 0) return;
        child.stdout!.off('data', onData);
        resolve(buf.slice(0, i));
      };
      child.stdout!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`exited (${code}) before a line; printed ${JSON.stringify(buf)}`)));
    });
  }

  /** Until no namespace maps the range (the kernel frees a namespace a moment after its last process is reaped). */
  async function untilUnmapped(r: { start: number; count: number }): Promise<void> {
    for (let i = 0; i < 100 && mappingOf(await takeCensus(), 'uid', r.start, r.start + r.count) !== null; i++) await sleep(100);
  }

  /** B's alloc of the one slot, once the kernel has freed A's namespace (its freeing is deferred, so B may wait a moment). */
  async function eventuallyAlloc(c: BrokerClient, name: string): Promise<{ start: number; count: number }> {
    for (let i = 0; ; i++) {
      try {
        return (await c.alloc(name)).allocation.uid;
      } catch (e) {
        if (!(e instanceof FsidmapError && e.code === 'ERR_POOL_EXHAUSTED') || i >= 100) throw e;
      }
      await sleep(100);
    }
  }

  // Kept alive where no /proc walk looks: A's descriptor in flight in a socket's queue, or a network namespace the user
  // namespace owns. Both let A enter it again later (recvmsg; NS_GET_USERNS) and run as its ids.
  for (const mode of ['inflight', 'netns'] as const) {
    it(`holds A's released range while its namespace lives only ${mode === 'inflight' ? 'as a descriptor in flight' : 'through a network namespace it owns'}`, async () => {
      const x = (await ca.alloc('hidden')).allocation;
      const h = await w.holderOf(a, mode === 'netns' ? ['--net'] : []);
      holders.push(h);
      await ca.setMaps(h.nsFd, h.pidfd, { uid: `0:${x.uid.start}:65536`, gid: `0:${x.gid.start}:65536` });
      const ino = fstatSync(h.nsFd).ino;
      const keeper = w.spawnAs(a, [process.execPath, join(repoRoot, 'dist/test/integration/support/ns-keeper.js'), mode, String(h.pid)], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const exited = new Promise((r) => keeper.once('exit', r));
      assert.equal(await lineOf(keeper), 'ready');
      await h.kill(); // its process gone, the test's descriptors closed: only A's keeper has it now

      // The gap: a walk of /proc alone sees nothing mapping the range.
      const walk = await takeCensus({ ledger: false });
      assert.equal(mappingOf(walk, 'uid', x.uid.start, x.uid.start + x.uid.count), null, 'the /proc walk does not see it');

      const r = await ca.release('hidden');
      assert.equal(r.held, true, `the release is answered with the range held (${JSON.stringify(r)})`);
      assert.match(r.heldBy!, new RegExp(`user namespace ${ino} .*the kernel: fsidmap wrote its maps`));
      await exhausted(cb, 'web');
      await sleep(2500); // a reap or two of the broker's (every 2 s) in between
      await exhausted(cb, 'web');

      // It was A's to use all along.
      keeper.stdin!.write('go\n');
      if (mode === 'inflight') assert.equal(await lineOf(keeper), `got user:[${ino}]`);
      await exited;
      assert.deepEqual(await eventuallyAlloc(cb, 'web'), x.uid);
      assert.deepEqual(await ca.list(), []);
      await cb.release('web');
    });
  }

  it('frees a released range at once when nothing maps it, and takes a draining name back on alloc', async () => {
    const x = (await ca.alloc('img', { kind: 'image' })).allocation;
    const free = await ca.release('img');
    assert.equal(free.held, false);
    assert.deepEqual(await ca.list(), []);
    const again = (await ca.alloc('img', { kind: 'image' })).allocation;
    assert.deepEqual(again.uid, x.uid);
    const h = await w.holderOf(a);
    holders.push(h);
    await ca.setMaps(h.nsFd, h.pidfd, { uid: `0:${x.uid.start}:65536`, gid: `0:${x.gid.start}:65536` });
    assert.equal((await ca.release('img')).held, true);
    const back = await ca.alloc('img', { kind: 'image' });
    assert.equal(back.created, false);
    assert.equal(back.allocation.state, 'allocated');
    await h.kill();
    await untilUnmapped(x.uid);
    assert.equal((await ca.release('img')).held, false);
  });
});

/** The same rule for root's commands: `fsidmap release`, `fsidmap gc` and `list`/`who` on a registry file. */
describe('fsidmap release and gc: a range still mapped drains', { skip: rootSkip }, () => {
  let w: BrokerWorld;
  before(async () => {
    w = await BrokerWorld.create({ users: 0 });
  });
  after(async () => {
    await w?.destroy();
  });

  const cli = (args: string[]) => {
    try {
      return { code: 0, out: execFileSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
    } catch (e) {
      const x = e as { status: number; stdout: string; stderr: string };
      return { code: x.status, out: `${x.stdout}${x.stderr}` };
    }
  };

  it('release answers held, list/show/who say draining, gc frees it once the namespace is gone', async () => {
    const db = join(w.base, 'cli.db');
    const made = JSON.parse(cli(['alloc', 'web', '--db', db, '--json']).out) as { uid: { start: number; count: number } };
    // Root's own container of that range: a user namespace with the maps written by root.
    const child = spawn('unshare', ['--user', '--', 'sleep', '600'], { stdio: 'ignore' });
    try {
      const own = readFileSync('/proc/self/uid_map', 'utf8');
      for (let i = 0; i < 200 && readFileSync(`/proc/${child.pid}/uid_map`, 'utf8') === own; i++) await sleep(5);
      writeFileSync(`/proc/${child.pid}/uid_map`, `0 ${made.uid.start} 65536`);
      writeFileSync(`/proc/${child.pid}/setgroups`, 'deny');
      writeFileSync(`/proc/${child.pid}/gid_map`, `0 ${made.uid.start} 65536`);
      const rel = JSON.parse(cli(['release', 'web', '--db', db, '--json']).out) as { state: string; heldBy: string };
      assert.equal(rel.state, 'draining');
      assert.match(rel.heldBy, new RegExp(`process ${child.pid}\\b`));
      assert.match(cli(['list', '--db', db]).out, /\(draining\)/);
      assert.match(cli(['show', 'web', '--db', db]).out, /state: +draining since/);
      assert.match(cli(['who', String(made.uid.start + 7), '--db', db]).out, /draining/);
      assert.match(cli(['gc', '--db', db]).out, /draining container web: user namespace \d+ \(process \d+\)/);
      assert.equal(cli(['alloc', 'other', '--db', db, '--pool', `${made.uid.start}:65536`]).code, 1, 'its slot is not handed out');
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    assert.match(cli(['gc', '--db', db, '--dry-run']).out, /would free drained container web/);
    assert.match(cli(['gc', '--db', db]).out, /freed drained container web/);
    // An empty registry still prints the header line, and nothing else.
    assert.deepEqual(cli(['list', '--db', db]).out.trim().split('\n').slice(1), []);
  });
});
