import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { BrokerClient } from '../../src/broker/client.js';
import { closeDescriptor, unixSocketPair } from '../../src/kernel/socket/unix-socket.js';
import { BrokerWorld, rootSkip, sleep, type TestUser } from './support/broker-world.js';

/**
 * The protocol under abuse: malformed, truncated, oversized and flooding
 * input, slow readers and writers, too many connections, and a fuzz run
 * over requests and raw bytes. Each gets a coded answer (or the connection
 * closed after one), an audit line, and the broker stays up and keeps
 * answering honest clients.
 */
describe('broker protocol', { skip: rootSkip }, () => {
  let w: BrokerWorld;
  let flooder: TestUser, fuzzer: TestUser, honest: TestUser;

  before(async () => {
    w = await BrokerWorld.create({
      users: 3,
      limits: (users: TestUser[]) => ({
        server: { maxLineBytes: 4096, lineTimeoutMs: 1500, writeTimeoutMs: 800, idleTimeoutMs: 5000 },
        default: { connections: 4, requestsPerSecond: 20, burst: 20 },
        users: { [users[1].name]: { requestsPerSecond: 100000, burst: 100000, connections: 16 } },
      }),
    });
    [flooder, fuzzer, honest] = w.users;
  });

  after(async () => {
    const left = w ? await w.leftovers() : { mounts: [], processes: [], registry: [] };
    const stderr = w?.brokerStderr ?? '';
    await w?.destroy();
    assert.deepEqual(left, { mounts: [], processes: [], registry: [] }, 'mounts, helper processes or registry entries were left behind');
    assert.doesNotMatch(stderr, /internal error/, 'no request made the broker fail internally');
  });

  async function answer(
    c: BrokerClient,
  ): Promise<{ v: number; id: unknown; ok: boolean; error?: { code: string; message: string } } | null> {
    const a = await c.readAnswer();
    if (a === null) return null;
    for (const fd of a.fds) closeDescriptor(fd);
    return JSON.parse(a.text);
  }

  async function honestHello(): Promise<void> {
    const c = await w.connectAs(honest);
    try {
      const h = await c.hello();
      assert.equal(h.peer.uid, honest.uid);
    } finally {
      c.close();
    }
  }

  it('answers malformed lines with a coded error and an audit line, and keeps the connection', async () => {
    const c = await w.connectAs(fuzzer);
    const cases: Array<[string, string]> = [
      ['not json', 'ERR_BROKER_PROTOCOL'],
      ['[1,2,3]', 'ERR_BROKER_PROTOCOL'],
      ['"hello"', 'ERR_BROKER_PROTOCOL'],
      ['{"v":2,"id":1,"op":"hello"}', 'ERR_BROKER_VERSION'],
      ['{"id":1,"op":"hello"}', 'ERR_BROKER_VERSION'],
      ['{"v":1,"id":1}', 'ERR_BROKER_PROTOCOL'],
      ['{"v":1,"id":1,"op":"format-disk"}', 'ERR_BROKER_PROTOCOL'],
      ['{"v":1,"id":1,"op":"hello","uid":0}', 'ERR_BROKER_PROTOCOL'],
      ['{"v":1,"id":{"x":1},"op":"hello"}', 'ERR_BROKER_PROTOCOL'],
      ['{"v":1,"id":1,"op":"mount","path":7,"mountMap":{"uid":"0 0 1","gid":"0 0 1"}}', 'ERR_BROKER_PROTOCOL'],
      ['{"v":1,"id":1,"op":"mount","path":"/x"}', 'ERR_BROKER_PROTOCOL'],
      ['{"v":1,"id":1,"op":"mount","path":"/x","mountMap":{"uid":"0 0 1"}}', 'ERR_BROKER_PROTOCOL'],
      ['{"v":1,"id":1,"op":"setmaps","uidMap":"0 0 1"}', 'ERR_BROKER_PROTOCOL'],
      ['{"v":1,"id":1,"op":"alloc","name":"../etc"}', 'ERR_BROKER_PROTOCOL'],
      ['{"v":1,"id":1,"op":"alloc","name":"x","size":-5}', 'ERR_BROKER_PROTOCOL'],
      ['\u0000\u0001\u0002', 'ERR_BROKER_PROTOCOL'],
      ['', 'ERR_BROKER_PROTOCOL'],
    ];
    const before = w.audit().length;
    try {
      for (const [line, code] of cases) {
        await c.sendRaw(Buffer.from(line + '\n', 'utf8'));
        const a = await answer(c);
        assert.ok(a, `an answer to ${JSON.stringify(line)}`);
        assert.equal(a.v, 1);
        assert.equal(a.ok, false, line);
        assert.equal(a.error?.code, code, `${JSON.stringify(line)}: ${a.error?.message}`);
      }
      const h = await c.hello();
      assert.equal(h.peer.uid, fuzzer.uid, 'the connection still serves');
    } finally {
      c.close();
    }
    const lines = w.auditOf(fuzzer, before).filter((l) => l.decision === 'refused');
    assert.equal(lines.length, cases.length, 'one audit line per malformed request');
    assert.ok(lines.every((l) => l.reason.length > 0 && l.code !== null));
  });

  it('closes a connection whose line never ends, after answering, and serves others meanwhile', async () => {
    const slow = await w.connectAs(flooder);
    await slow.sendRaw(Buffer.from('{"v":1,"id":1,"op":"hel'));
    // Another user is served while the truncated line waits for its timeout.
    await honestHello();
    const a = await answer(slow);
    assert.equal(a?.error?.code, 'ERR_BROKER_TIMEOUT');
    assert.equal(await answer(slow), null, 'then the connection is closed');
    slow.close();
    // A truncated line followed by the client going away: nothing to answer, nothing breaks.
    const gone = await w.connectAs(flooder);
    await gone.sendRaw(Buffer.from('{"v":1,"id":1,"op":"hel'));
    gone.close();
    await honestHello();
  });

  it('refuses an oversized line and closes the connection', async () => {
    for (const tail of ['', '\n']) {
      const c = await w.connectAs(fuzzer);
      await c.sendRaw(Buffer.from(`{"v":1,"id":1,"op":"hello","pad":"${'x'.repeat(6000)}"}${tail}`));
      const a = await answer(c);
      assert.equal(a?.error?.code, 'ERR_BROKER_LINE_TOO_LONG');
      assert.equal(await answer(c), null);
      c.close();
    }
    await honestHello();
  });

  it('rate-limits a flooding peer, closes it, and keeps serving others', async () => {
    const c = await w.connectAs(flooder);
    const n = 400;
    const burst = Buffer.from(Array.from({ length: n }, (_, i) => `{"v":1,"id":${i},"op":"hello"}\n`).join(''));
    await c.sendRaw(burst);
    let ok = 0,
      limited = 0;
    for (;;) {
      const a = await answer(c);
      if (a === null) break;
      if (a.ok) ok++;
      else if (a.error?.code === 'ERR_BROKER_RATE_LIMITED') limited++;
      else assert.fail(`unexpected answer ${JSON.stringify(a)}`);
    }
    c.close();
    assert.ok(ok >= 1 && ok <= 25, `about a burst's worth answered (${ok})`);
    assert.ok(limited >= 1, `the rest was refused (${limited})`);
    assert.ok(ok + limited < n, 'the connection was closed before the flood was answered in full');
    const summary = w.auditOf(flooder).filter((l) => l.code === 'ERR_BROKER_AUDIT_SUPPRESSED' || l.code === 'ERR_BROKER_RATE_LIMITED');
    assert.ok(summary.length >= 1, 'rate-limit refusals reach the audit log (one by one or counted)');
    await honestHello();
  });

  it('closes a peer that does not read its answers, without holding up others', async () => {
    const c = await w.connectAs(fuzzer);
    const many = Buffer.from(Array.from({ length: 3000 }, (_, i) => `{"v":1,"id":${i},"op":"hello"}\n`).join(''));
    // Written in pieces: the broker stops reading while its answers back up.
    const send = (async () => {
      try {
        await c.sendRaw(many);
      } catch {
        /* closed by the broker */
      }
    })();
    await sleep(200);
    await honestHello();
    let closed = false;
    for (let i = 0; i < 100 && !closed; i++) {
      await sleep(50);
      closed = w.auditOf(fuzzer).some((l) => l.code === 'ERR_BROKER_TIMEOUT' && /did not read/.test(l.reason));
    }
    assert.ok(closed, 'the broker gave up on the reader');
    c.close();
    await send;
  });

  it('limits connections per user', async () => {
    const open: BrokerClient[] = [];
    try {
      for (let i = 0; i < 4; i++) open.push(await w.connectAs(flooder));
      for (const c of open) assert.equal((await c.hello()).peer.uid, flooder.uid);
      const extra = await w.connectAs(flooder);
      const a = await answer(extra);
      extra.close();
      assert.equal(a?.error?.code, 'ERR_BROKER_LIMIT');
      await honestHello();
    } finally {
      for (const c of open) c.close();
    }
  });

  it('closes descriptors it will not use, and refuses the request', async () => {
    const c = await w.connectAs(fuzzer);
    const [r, s] = unixSocketPair();
    try {
      await c.sendRaw(Buffer.from('{"v":1,"id":9,"op":"setmaps","uidMap":"0 1 1","gidMap":"0 1 1"}\n'), [r, s]);
      const a = await answer(c);
      assert.equal(a?.error?.code, 'ERR_BROKER_FDS');
    } finally {
      c.close();
      closeDescriptor(r);
    }
    // Once the broker's copies are closed, the pair's other end sees the peer gone.
    const { receive } = await import('../../src/kernel/socket/unix-socket.js');
    let eof = false;
    for (let i = 0; i < 100 && !eof; i++) {
      await sleep(20);
      eof = receive(s, 16)?.eof === true;
    }
    closeDescriptor(s);
    assert.ok(eof, 'the broker closed the descriptors it was sent');
  });

  it('survives a fuzz run over requests and raw bytes, then answers an honest client', async () => {
    const ops = ['hello', 'setmaps', 'mount', 'alloc', 'release', 'list', 'x', ''];
    const value = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.double(),
      fc.array(fc.string(), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 40 }), { maxKeys: 3 }),
      fc.constant('0 0 4294967295'),
      fc.constant('/etc'),
    );
    const request = fc
      .record({
        v: fc.oneof(fc.constant(1), value),
        id: fc.oneof(fc.integer(), fc.string({ maxLength: 200 }), value),
        op: fc.oneof(fc.constantFrom(...ops), fc.string()),
        extra: fc.dictionary(
          fc.constantFrom(
            'path',
            'uidMap',
            'gidMap',
            'mountMap',
            'idmap',
            'fsidmap',
            'name',
            'kind',
            'size',
            'setgroups',
            'readonly',
            'zz',
          ),
          value,
          { maxKeys: 4 },
        ),
      })
      .map((r) => Buffer.from(JSON.stringify({ v: r.v, id: r.id, op: r.op, ...r.extra }) + '\n', 'utf8'));
    const raw = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));
    const input = fc.oneof({ weight: 3, arbitrary: request }, { weight: 1, arbitrary: raw });
    let c = await w.connectAs(fuzzer);
    let answered = 0,
      reconnects = 0;
    const samples = fc.sample(fc.tuple(input, fc.boolean()), { numRuns: 300, seed: Number(process.env.FSIDMAP_SEED ?? 8) });
    try {
      for (const [bytes, withFd] of samples) {
        const [r, s] = withFd ? unixSocketPair() : [-1, -1];
        try {
          await c.sendRaw(bytes, withFd ? [r] : []);
        } catch {
          c.close();
          c = await w.connectAs(fuzzer);
          reconnects++;
          continue;
        } finally {
          if (withFd) {
            closeDescriptor(r);
            closeDescriptor(s);
          }
        }
        const lines = bytes.toString('latin1').split('\n').length - 1;
        for (let i = 0; i < lines; i++) {
          const a = await answer(c).catch(() => null);
          if (a === null) {
            c.close();
            c = await w.connectAs(fuzzer);
            reconnects++;
            break;
          }
          assert.equal(a.v, 1);
          assert.equal(typeof a.ok, 'boolean');
          answered++;
        }
      }
    } finally {
      c.close();
    }
    assert.ok(answered > 200, `most fuzz lines were answered (${answered}, ${reconnects} reconnects)`);
    assert.ok(w.brokerAlive(), 'the broker is still running');
    await honestHello();
  });
});
