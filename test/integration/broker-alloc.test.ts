import assert from 'node:assert/strict';
import { chownSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_POOL, homeStart, SLOT } from '../../src/alloc/index.js';
import type { BrokerClient } from '../../src/broker/client.js';
import { FsidmapError } from '../../src/errors.js';
import { closeDescriptor } from '../../src/kernel/socket/unix-socket.js';
import { BrokerWorld, type Holder, rootSkip, type TestUser } from './support/broker-world.js';

/**
 * Ranges the broker allocates from the registry on a peer's behalf: within
 * the per-user limits, never overlapping anyone's subordinate ranges,
 * private to the peer, and usable — by that peer only — in maps and mounts
 * until released.
 */
describe('broker allocations', { skip: rootSkip }, () => {
  let w: BrokerWorld;
  let a: TestUser, b: TestUser;
  let ca: BrokerClient, cb: BrokerClient;
  const holders: Holder[] = [];

  before(async () => {
    w = await BrokerWorld.create({
      users: 2,
      limits: (users: TestUser[]) => ({
        default: { requestsPerSecond: 10000, burst: 10000 },
        users: { [users[0].name]: { allocations: 2, ids: 131072 } },
      }),
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

  async function refused(p: () => Promise<unknown>, code: string): Promise<void> {
    const before = w.audit().length;
    await assert.rejects(p, (e: unknown) => e instanceof FsidmapError && e.code === code);
    const lines = w.auditOf(a, before).concat(w.auditOf(b, before));
    assert.equal(lines.length, 1);
    assert.equal(lines[0].code, code);
  }

  const inside = (id: number, start: number, count: number) => id >= start && id < start + count;

  it('allocates a private range clear of every subordinate range, idempotently, and lists it', async () => {
    const r = await ca.alloc('img', { kind: 'image' });
    assert.equal(r.created, true);
    const x = r.allocation;
    assert.equal(x.uid.count, 65536);
    for (const u of w.users)
      assert.ok(x.uid.start + x.uid.count <= u.sub.start || x.uid.start >= u.sub.start + u.sub.count, "clear of the test users' ranges");
    for (const line of readFileSync('/etc/subuid', 'utf8').split('\n')) {
      const [, s, n] = line.split(':');
      if (s && n)
        assert.ok(x.uid.start + x.uid.count <= Number(s) || x.uid.start >= Number(s) + Number(n), `clear of /etc/subuid line ${line}`);
    }
    // Not the public hash of its registry name: nobody can compute where a name lands (finding 1 of issue 13).
    assert.notEqual(x.uid.start, homeStart(`uid:${a.uid}/img`, DEFAULT_POOL, SLOT));
    const again = await ca.alloc('img', { kind: 'image' });
    assert.equal(again.created, false);
    assert.deepEqual(again.allocation.uid, x.uid);
    assert.deepEqual(
      (await ca.list()).map((l) => l.name),
      ['img'],
    );
    const h = await ca.hello();
    assert.deepEqual(h.owned.uid.allocated, [[x.uid.start, 65536]]);
    assert.equal(h.usage.allocations, 1);
  });

  it("keeps peers' names apart: the same name is another range, and nobody releases another's", async () => {
    const mine = (await ca.list()).find((l) => l.name === 'img')!;
    const theirs = await cb.alloc('img', { kind: 'image' });
    assert.notDeepEqual(theirs.allocation.uid, mine.uid);
    assert.deepEqual(
      (await cb.list()).map((l) => l.name),
      ['img'],
    );
    await cb.release('img');
    assert.deepEqual(
      (await ca.list()).map((l) => l.name),
      ['img'],
      "releasing B's img left A's alone",
    );
    await refused(() => cb.release('img'), 'ERR_NO_SUCH_ALLOCATION');
  });

  it('lets the peer use its allocation in maps and mounts, and nobody else', async () => {
    const x = (await ca.list()).find((l) => l.name === 'img')!;
    const h = await w.holderOf(a);
    holders.push(h);
    await ca.setMaps(h.nsFd, h.pidfd, { uid: `0:${x.uid.start}:65536`, gid: `0:${x.gid.start}:65536` });
    assert.match(readFileSync(`/proc/${h.pid}/uid_map`, 'utf8'), new RegExp(`\\s0\\s+${x.uid.start}\\s+65536`));
    // An image stored in A's subordinate range, seen through the allocated range.
    const img = join(a.home, 'img');
    mkdirSync(img);
    writeFileSync(join(img, 'f'), 'x');
    chownSync(join(img, 'f'), a.sub.start + 3, a.sub.start + 3);
    chownSync(img, a.sub.start, a.sub.start);
    const m = await ca.mount({
      path: img,
      mountMap: { uid: `${a.sub.start} ${x.uid.start} 65536`, gid: `${a.sub.start} ${x.gid.start} 65536` },
    });
    try {
      assert.ok(inside(statSync(`/proc/self/fd/${m.fd}/f`).uid, x.uid.start, 65536));
    } finally {
      closeDescriptor(m.fd);
    }
    const hb = await w.holderOf(b);
    holders.push(hb);
    await refused(
      () => cb.setMaps(hb.nsFd, hb.pidfd, { uid: `0:${x.uid.start}:65536`, gid: `0:${x.gid.start}:65536` }),
      'ERR_BROKER_IDS_NOT_OWNED',
    );
    assert.equal(readFileSync(`/proc/${hb.pid}/uid_map`, 'utf8'), '');
  });

  it('enforces the per-user limits on allocations and ids', async () => {
    await refused(() => ca.alloc('big', { size: 131072 }), 'ERR_BROKER_LIMIT');
    await ca.alloc('second');
    await refused(() => ca.alloc('third'), 'ERR_BROKER_LIMIT');
    await refused(() => ca.alloc('odd', { size: 1000 }), 'ERR_BROKER_LIMIT');
    // Asking again for one already held is not a new allocation.
    assert.equal((await ca.alloc('second')).created, false);
    await ca.release('second');
    await refused(() => cb.alloc('odd', { size: 1000 }), 'ERR_USAGE');
  });

  it('forgets a released range: maps of it are refused again', async () => {
    const x = (await ca.list()).find((l) => l.name === 'img')!;
    // The namespace of the test before still maps it: held, draining (broker-drain.test.ts), and no longer A's.
    assert.equal((await ca.release('img')).held, true);
    assert.deepEqual(
      (await ca.list()).map((l) => l.state),
      ['draining'],
    );
    const h = await w.holderOf(a);
    holders.push(h);
    await refused(
      () => ca.setMaps(h.nsFd, h.pidfd, { uid: `0:${x.uid.start}:65536`, gid: `0:${x.gid.start}:65536` }),
      'ERR_BROKER_IDS_NOT_OWNED',
    );
  });
});
