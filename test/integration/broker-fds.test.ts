import assert from 'node:assert/strict';
import { openSync, readdirSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BrokerClient } from '../../src/broker/client.js';
import { closeDescriptor, POLLIN, pollReady, receive, send, unixConnect } from '../../src/kernel/socket/unix-socket.js';
import { lingeringTcpSocket } from '../support/lingering-socket.js';
import { BrokerWorld, rootSkip, sleep, type TestUser } from './support/broker-world.js';

/**
 * Finding 3 of issue 13: one user must not be able to exhaust the broker's
 * descriptors. Descriptors are counted per line as they arrive (a line
 * carrying more than a request takes closes the connection), a socket a
 * peer sends is closed at once with SO_LINGER off (its close cannot stall
 * the quarantine thread), each owner's unwanted files close on a thread of
 * their own, and another user is answered throughout.
 */
describe('broker: a bounded descriptor budget', { skip: rootSkip }, () => {
  let w: BrokerWorld;
  let a: TestUser, b: TestUser;
  const closers: Array<() => void> = [];

  before(async () => {
    w = await BrokerWorld.create({
      users: 2,
      limits: { server: { maxQuarantinedFds: 2 }, default: { requestsPerSecond: 10000, burst: 10000 }, users: {} },
    });
    [a, b] = w.users;
  });

  after(async () => {
    for (const close of closers) close();
    await w?.destroy();
  });

  const brokerFds = () => readdirSync(`/proc/${w.broker!.pid}/fd`).length;

  /** The first answer line on a raw connection (or null when it closed without one). */
  async function answer(fd: number, timeoutMs = 5000): Promise<Record<string, unknown> | null> {
    let buf = '';
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const [rev] = await pollReady([{ fd, events: POLLIN }], 100);
      if (rev === 0) continue;
      const r = receive(fd, 65536);
      if (!r) continue;
      for (const f of r.fds) closeDescriptor(f);
      buf += r.data.toString('utf8');
      const i = buf.indexOf('\n');
      if (i >= 0) return JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
      if (r.eof) return null;
    }
    throw new Error('no answer in time');
  }

  /** B's hello round trip, in ms (throws if B is not answered). */
  async function honest(): Promise<number> {
    const t = Date.now();
    const c = await w.connectAs(b, 5000);
    try {
      await c.hello();
    } finally {
      c.close();
    }
    return Date.now() - t;
  }

  /** Waits until u is answered again (its descriptors sent earlier have been closed). */
  async function quarantineDrained(u: TestUser): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const c = await w.connectAs(u, 5000);
      try {
        await c.hello();
        return;
      } catch (e) {
        if ((e as { code?: string }).code !== 'ERR_BROKER_LIMIT') throw e;
      } finally {
        c.close();
      }
      await sleep(50);
    }
    throw new Error(`${u.name}'s descriptors were still being closed after 10 s`);
  }

  it('closes a connection whose line carries more descriptors than any request, before they pile up', async (t) => {
    const file = openSync('/etc/hostname', 'r');
    const before = brokerFds();
    let peak = before;
    const latencies: number[] = [];
    // B says hello on an open connection throughout the flood, not only between rounds.
    const cb = await w.connectAs(b, 5000);
    const during: number[] = [];
    let flooding = true;
    const alongside = (async () => {
      while (flooding) {
        const t = Date.now();
        await cb.hello();
        during.push(Date.now() - t);
        await sleep(10);
      }
    })();
    for (let round = 0; round < 5; round++) {
      // The previous round's descriptors close on A's thread; under load that outlasts the round, and A is then
      // refused with ERR_BROKER_LIMIT (maxQuarantinedFds 2), which is right but not what this round tests.
      await quarantineDrained(a);
      const fd = await w.connectFdAs(a);
      // 1-byte messages with 4 descriptors each, a newline only every 500 messages (the reported flood).
      for (let i = 0; i < 2000; i++) {
        try {
          if (send(fd, Buffer.from(i % 500 === 499 ? '\n' : 'x'), [file, file, file, file]) === 0) await sleep(1);
        } catch {
          break; // closed by the broker: what should happen
        }
        if (i % 200 === 0) peak = Math.max(peak, brokerFds());
        if (i % 50 === 0) await new Promise((r) => setImmediate(r)); // let B's hellos go out and their answers in
      }
      const r = await answer(fd);
      assert.equal((r?.error as { code?: string } | undefined)?.code, 'ERR_BROKER_FDS', JSON.stringify(r));
      closeDescriptor(fd);
      latencies.push(await honest());
    }
    flooding = false;
    await alongside;
    cb.close();
    closeDescriptor(file);
    const sorted = [...during].sort((x, y) => x - y);
    // Loose on purpose (the machine is shared): B is answered at all, every time; the figures are for people.
    assert.ok(during.length > 0, 'B was answered during the flood');
    t.diagnostic(
      `B's hello during the flood: ${during.length} answered, median ${sorted[sorted.length >> 1]} ms, max ${sorted.at(-1)} ms, ${during.filter((x) => x > 100).length} over 100 ms`,
    );
    assert.ok(peak - before < 200, `the broker held at most ${peak - before} more descriptors during the flood`);
    const line = w.audit().find((l) => l.code === 'ERR_BROKER_FDS' && l.peer?.uid === a.uid);
    assert.match(line!.reason, /more than 2 descriptors/);
    assert.equal(latencies.length, 5, `B answered after each flood (ms: ${latencies.join(', ')})`);
  });

  it('closes a lingering TCP socket at once, so it cannot stall the closing of what follows', async () => {
    // A TCP peer that never reads, and a socket to it with a full send buffer and SO_LINGER {1, 40 s}.
    const lingering = await lingeringTcpSocket();
    closers.push(lingering.close);
    const tcpFd = lingering.fd;
    assert.match(readlinkSync(`/proc/self/fd/${tcpFd}`), /^socket:/);

    const file = openSync('/etc/hostname', 'r');
    const fd = await w.connectFdAs(a);
    send(fd, Buffer.from('{"v":1,"id":1,"op":"hello"}\n'), [tcpFd]);
    const r1 = await answer(fd);
    assert.equal((r1?.error as { code?: string }).code, 'ERR_BROKER_FDS');
    assert.match((r1?.error as { message: string }).message, /a socket/);
    // Now an unwanted file, which goes to A's closing thread: were that thread stuck in the socket's close, it would stay there.
    send(fd, Buffer.from('{"v":1,"id":2,"op":"hello"}\n'), [file]);
    await answer(fd);
    closeDescriptor(fd);
    closeDescriptor(file);
    lingering.close();
    // With maxQuarantinedFds 2, A is refused while 2 of its descriptors are still being closed: it is not.
    await sleep(200);
    const ca = await w.connectAs(a, 5000);
    try {
      assert.equal((await ca.hello()).peer.uid, a.uid);
    } finally {
      ca.close();
    }
    assert.ok((await honest()) >= 0);
  });
});

/**
 * The reserve of finding 3: below its descriptor limit the broker keeps
 * fdReserve descriptors it accepts no connection into, so that with every
 * other descriptor taken by one user's idle connections it still answers,
 * reads /etc and makes a mount (a path walk, a holder process, the lock
 * helper: a dozen descriptors) for a connection it has.
 */
describe('broker: a reserve of descriptors no connection eats into', { skip: rootSkip }, () => {
  let w: BrokerWorld;
  let a: TestUser;
  const fds: number[] = [];
  const LIMIT = 300;

  before(async () => {
    w = await BrokerWorld.create({
      users: 1,
      limits: (users: TestUser[]) => ({
        server: { maxConnections: 10000 },
        default: { requestsPerSecond: 10000, burst: 10000 },
        users: { [users[0].name]: { connections: 10000 } },
      }),
    });
    [a] = w.users;
    execFileSync('prlimit', [`--pid=${w.broker!.pid}`, `--nofile=${LIMIT}:${LIMIT}`]);
  });

  after(async () => {
    for (const fd of fds) closeDescriptor(fd);
    await w?.destroy();
  });

  /** A connection from a's ids, made by this process (SO_PEERCRED records the effective ids at connect). */
  function connectAsA(): number {
    const groups = process.getgroups!();
    process.setgroups!([a.gid]);
    process.setegid!(a.gid);
    process.seteuid!(a.uid);
    try {
      return unixConnect(w.socket);
    } finally {
      process.seteuid!(0);
      process.setegid!(0);
      process.setgroups!(groups);
    }
  }

  it('stops accepting at the reserve, and still answers and mounts for a connection it has', async () => {
    const first = connectAsA();
    const ca = BrokerClient.fromFd(first, "a's first connection", 15000);
    await ca.hello();
    // 100 more connections than the broker has room for outside its reserve (300 - 256 = 44).
    for (let i = 0; i < 100; i++) fds.push(connectAsA());
    await sleep(1000);
    const open = readdirSync(`/proc/${w.broker!.pid}/fd`).length;
    assert.ok(open <= LIMIT - 256 + 1, `the broker holds ${open} descriptors, at most ${LIMIT - 256} outside its reserve`);
    const img = join(a.home, 'img');
    mkdirSync(img);
    chownSync(img, a.sub.start, a.sub.start);
    const mm = `${a.sub.start} ${a.sub.start + 65536} 65536`;
    const m = await ca.mount({ path: img, mountMap: { uid: mm, gid: mm } });
    closeDescriptor(m.fd);
    assert.equal((await ca.hello()).peer.uid, a.uid);
    ca.close();
    // Once descriptors are free again the waiting connections are accepted.
    for (const fd of fds.splice(0, 90)) closeDescriptor(fd);
    const late = BrokerClient.fromFd(fds.pop()!, "a's last connection", 15000);
    try {
      assert.equal((await late.hello()).peer.uid, a.uid);
    } finally {
      late.close();
    }
  });
});
