import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrokerClient } from '../../src/broker/client.js';
import { FsidmapError } from '../../src/errors.js';
import { BrokerWorld, repoRoot, rootSkip, type TestUser } from './support/broker-world.js';

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
