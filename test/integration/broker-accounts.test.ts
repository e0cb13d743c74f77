import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrokerClient } from '../../src/broker/client.js';
import { BrokerClient as Client } from '../../src/broker/client.js';
import { FsidmapError } from '../../src/errors.js';
import { unixConnect } from '../../src/kernel/socket/unix-socket.js';
import { BrokerWorld, type Holder, repoRoot, rootSkip, type TestUser } from './support/broker-world.js';

/**
 * Finding 2 of issue 13: limits are counted per owner, not per raw peer
 * uid. User A becomes each of its subordinate uids inside its own user
 * namespace (unshare --map-users through newuidmap, then seteuid) and
 * connects as each: every one of them counts as A — one connection limit,
 * one allocation limit — while B, another user, is served throughout.
 */
describe('broker: limits per owner, not per raw uid', { skip: rootSkip }, () => {
  let w: BrokerWorld;
  let a: TestUser, b: TestUser;
  let cb: BrokerClient;
  const flood = join(repoRoot, 'dist/test/integration/support/subuid-flood.js');

  before(async () => {
    w = await BrokerWorld.create({
      users: 2,
      limits: { default: { requestsPerSecond: 10000, burst: 10000, connections: 4, allocations: 3 }, users: {} },
    });
    [a, b] = w.users;
  });

  after(async () => {
    cb?.close();
    await w?.destroy();
  });

  it("counts every subordinate uid of A's as A, for connections and allocations", async () => {
    const n = 20;
    const r = await w.runAs(a, [
      'unshare',
      '--user',
      `--map-users=${a.sub.start},0,65536`,
      `--map-groups=${a.sub.start},0,65536`,
      '--setuid',
      '0',
      '--setgid',
      '0',
      '--',
      process.execPath,
      flood,
      w.socket,
      String(n),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout.trim().split('\n').pop()!) as { uid: number; hello: string; account: string | null; alloc: string }[];
    assert.equal(rows.length, n);
    const served = rows.filter((x) => x.hello === 'ok');
    assert.equal(served.length, 4, `A's 4 connections, whatever uid: ${JSON.stringify(rows.map((x) => x.hello))}`);
    for (const x of served) assert.equal(x.account, `uid:${a.uid}`, 'each subordinate peer is told it counts as A');
    for (const x of rows.filter((x) => x.hello !== 'ok')) assert.equal(x.hello, 'ERR_BROKER_LIMIT');
    assert.equal(served.filter((x) => x.alloc === 'ok').length, 3, "A's 3 allocations over all its uids");
    const line = w.audit().find((l) => l.code === 'ERR_BROKER_LIMIT' && l.peer?.uid === a.sub.start + 5);
    assert.ok(line, 'the refusal is audited under the raw peer');
    assert.match(line.reason, new RegExp(`counted as uid:${a.uid}`));
    assert.equal((line.peer as { account?: string }).account, `uid:${a.uid}`);

    // B is another owner: full limits of its own.
    cb = await w.connectAs(b);
    const hb = await cb.hello();
    assert.equal((hb as unknown as { account: { key: string } }).account.key, `uid:${b.uid}`);
    assert.equal(hb.usage.allocations, 0);
    await cb.alloc('mine');
    await cb.release('mine');

    // A's allocations made by its subordinates are A's to count: A itself is at its limit.
    const ca = await w.connectAs(a);
    try {
      assert.equal((await ca.hello()).usage.allocations, 3);
      await assert.rejects(
        () => ca.alloc('one-more'),
        (e: unknown) => e instanceof FsidmapError && e.code === 'ERR_BROKER_LIMIT',
      );
    } finally {
      ca.close();
    }
  });
});

/**
 * The rest of finding 2: a peer inside a range the broker allocated counts
 * as that range's owner, and a peer that is nobody's — no passwd entry, in
 * no subordinate or allocated range — gets the stranger's limits, shared
 * with every other such peer.
 */
describe('broker: allocated ranges count as their owner; strangers share the least', { skip: rootSkip }, () => {
  let w: BrokerWorld;
  let a: TestUser;
  const holders: Holder[] = [];
  const clients: Client[] = [];

  before(async () => {
    w = await BrokerWorld.create({ users: 1, limits: { default: { requestsPerSecond: 10000, burst: 10000 }, users: {} } });
    [a] = w.users;
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const h of holders) await h.kill();
    await w?.destroy();
  });

  /** A connection from uid (no passwd entry, no groups): SO_PEERCRED records the effective ids at connect. */
  function connectAsUid(uid: number): Client {
    const groups = process.getgroups!();
    process.setgroups!([uid]);
    process.setegid!(uid);
    process.seteuid!(uid);
    try {
      return Client.fromFd(unixConnect(w.socket), `uid ${uid}'s connection`, 15000);
    } finally {
      process.seteuid!(0);
      process.setegid!(0);
      process.setgroups!(groups);
    }
  }

  it("counts a uid of A's broker allocation, used inside A's namespace, as A", async () => {
    const ca = await w.connectAs(a);
    clients.push(ca);
    const x = (await ca.alloc('box')).allocation;
    const h = await w.holderOf(a);
    holders.push(h);
    await ca.setMaps(h.nsFd, h.pidfd, { uid: `0:${x.uid.start}:65536`, gid: `0:${x.gid.start}:65536` });
    // Uid 5 of that namespace is host uid x.uid.start + 5: nobody's in /etc, but A's through the allocation.
    const fd = await w.connectFdAs(a, ['nsenter', `--target=${h.pid}`, '--user', '--setuid=5', '--setgid=5', '--']);
    const c = Client.fromFd(fd, 'inside', 15000);
    clients.push(c);
    const hello = (await c.hello()) as unknown as {
      peer: { uid: number };
      account: { key: string; via: string };
      usage: { allocations: number };
    };
    assert.equal(hello.peer.uid, x.uid.start + 5);
    assert.deepEqual(hello.account, { key: `uid:${a.uid}`, via: 'allocated' });
    assert.equal(hello.usage.allocations, 1, "A's allocation is what this peer's limits count");
    await ca.release('box').catch(() => undefined);
  });

  it("gives a peer that is nobody's the stranger's limits, shared by every such peer", async () => {
    // Far from every test user's range (1.5e9 and up) and from useradd's; in no /etc file.
    const base = 1_300_000_000 + Math.floor(Math.random() * 1_000_000);
    const s1 = connectAsUid(base);
    clients.push(s1);
    const h1 = (await s1.hello()) as unknown as {
      account: { key: string; via: string };
      limits: { connections: number; allocations: number };
    };
    assert.deepEqual(h1.account, { key: 'stranger', via: 'stranger' });
    assert.equal(h1.limits.allocations, 0);
    await assert.rejects(
      () => s1.alloc('mine'),
      (e: unknown) => e instanceof FsidmapError && e.code === 'ERR_BROKER_LIMIT',
    );
    // Two strangers' connections, of two uids, fill the one stranger account (2 by default): a third uid is refused.
    const s2 = connectAsUid(base + 1);
    clients.push(s2);
    await s2.hello();
    const s3 = connectAsUid(base + 2);
    clients.push(s3);
    await assert.rejects(
      () => s3.hello(),
      (e: unknown) => e instanceof FsidmapError && e.code === 'ERR_BROKER_LIMIT' && /nobody's/.test(e.message),
    );
    // A user with a passwd entry is not a stranger, and is served meanwhile.
    const ca = await w.connectAs(a);
    clients.push(ca);
    assert.equal(((await ca.hello()) as unknown as { account: { key: string } }).account.key, `uid:${a.uid}`);
  });
});
