import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { closeDescriptor, POLLIN, POLLOUT, pollReady, receive, send } from '../../src/kernel/socket/unix-socket.js';
import { BrokerWorld, rootSkip, type TestUser } from './support/broker-world.js';

/**
 * Findings 4b and 4c of issue 13, against the real broker and a real user:
 * 59 KB lines of junk give audit records of at most 4096 bytes, every one of
 * them written (a decision is never dropped, only shortened), and U+2028 /
 * U+2029 / NEL in a request never reach the log raw.
 */
describe('broker: bounded, escaped audit records', { skip: rootSkip }, () => {
  let w: BrokerWorld;
  let a: TestUser;

  before(async () => {
    w = await BrokerWorld.create({ users: 1 });
    [a] = w.users;
  });

  after(async () => {
    await w?.destroy();
  });

  async function sendAll(fd: number, data: Buffer): Promise<void> {
    for (let off = 0; off < data.length;) {
      const n = send(fd, data.subarray(off));
      off += n;
      if (n === 0) await pollReady([{ fd, events: POLLOUT }], 1000);
    }
  }

  async function answer(fd: number): Promise<{ ok: boolean; id: unknown; error?: { code: string } }> {
    let buf = '';
    for (;;) {
      const [rev] = await pollReady([{ fd, events: POLLIN }], 5000);
      if (rev === 0) throw new Error('no answer');
      const r = receive(fd, 65536);
      if (!r) continue;
      buf += r.data.toString('utf8');
      const i = buf.indexOf('\n');
      if (i >= 0) return JSON.parse(buf.slice(0, i));
      if (r.eof) throw new Error('closed');
    }
  }

  it('cuts ~59 KB of junk to bounded records and writes one for every line that passed the rate limit', async () => {
    const from = w.audit().length;
    const fd = await w.connectFdAs(a);
    const codes: string[] = [];
    try {
      for (let i = 0; i < 30; i++) {
        await sendAll(
          fd,
          Buffer.from(
            `{"v":1,"id":${i},"op":"mount","path":"/${'j'.repeat(30000)}","mountMap":{"uid":"${'0 1 1\\n'.repeat(4000)}","gid":"0 1 1"}}\n`,
          ),
        );
        codes.push((await answer(fd)).error!.code);
      }
    } finally {
      closeDescriptor(fd);
    }
    const mine = w.auditOf(a, from).filter((l) => l.op === 'mount');
    assert.equal(mine.length, codes.filter((c) => c !== 'ERR_BROKER_RATE_LIMITED').length, 'one record per decision, none dropped');
    const raw = readFileSync(w.auditPath, 'utf8').split('\n').slice(from);
    for (const l of raw) assert.ok(Buffer.byteLength(l) < 4096, `a ${Buffer.byteLength(l)}-byte line`);
    assert.ok(
      mine.every((l) => ((l as unknown as { cut?: { bytes: number } }).cut?.bytes ?? 0) > 4096),
      `each says it was cut and from what: ${JSON.stringify(mine.map((l) => [l.code, (l as unknown as { cut?: { bytes: number } }).cut?.bytes]))}`,
    );
  });

  it('escapes U+2028, U+2029 and NEL: the raw log has none, the record reads back the same', async () => {
    const from = w.audit().length;
    const id = 'x\u2028y\u2029z\u0085';
    const c = await w.connectFdAs(a);
    try {
      await sendAll(c, Buffer.from(`{"v":1,"id":"${id}","op":"nope"}\n`, 'utf8'));
      assert.equal((await answer(c)).id, id);
    } finally {
      closeDescriptor(c);
    }
    const bytes = readFileSync(w.auditPath);
    for (const seq of [
      [0xe2, 0x80, 0xa8],
      [0xe2, 0x80, 0xa9],
      [0xc2, 0x85],
    ])
      assert.equal(bytes.indexOf(Buffer.from(seq)), -1);
    const line = w.auditOf(a, from).find((l) => l.code === 'ERR_BROKER_PROTOCOL')!;
    assert.equal((line as unknown as { id: string }).id, id);
  });
});
