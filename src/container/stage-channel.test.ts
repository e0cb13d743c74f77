import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { StageChannel, stageError } from './stage-channel.js';

describe("the stage's control channel", () => {
  it('delivers lines in order, split or joined across chunks, then null at EOF', async () => {
    const s = new PassThrough();
    const c = new StageChannel(s);
    s.write('rea');
    s.write('dy\nstarted 4');
    s.write('2\nrunning\n');
    assert.equal(await c.next(), 'ready');
    assert.equal(await c.next(), 'started 42');
    assert.equal(await c.next(), 'running');
    s.end();
    assert.equal(await c.next(), null);
  });
  it('rejects a wait when setup is aborted', async () => {
    const c = new StageChannel(new PassThrough());
    const ac = new AbortController();
    const p = c.next(ac.signal);
    ac.abort('SIGTERM');
    await assert.rejects(p, { code: 'ERR_RUN_INTERRUPTED' });
  });
  const cases: Array<[string, string, Record<string, unknown>]> = [
    ['error exec 2 /bin/nope', 'ERR_RUN_CMD_NOT_FOUND', { command: '/bin/nope', errno: 'ENOENT' }],
    ['error exec 13 /etc/passwd', 'ERR_RUN_CMD_NOT_EXECUTABLE', { command: '/etc/passwd', errno: 'EACCES' }],
    ['error mount-proc 1 proc', 'ERR_RUN_SETUP', { step: 'mount-proc', errno: 'EPERM', subject: 'proc' }],
    ['error unshare 28 ', 'ERR_RUN_SETUP', { step: 'unshare', errno: 'ENOSPC', subject: '' }],
    ['nonsense', 'ERR_RUN_SETUP', {}],
  ];
  for (const [line, code, context] of cases) {
    it(`turns "${line}" into ${code}`, () => {
      const e = stageError(line);
      assert.equal(e.code, code);
      for (const [k, v] of Object.entries(context)) assert.equal(e.context[k], v);
    });
  }
  it('explains the steps that have a known cause', () => {
    assert.ok(stageError('error mount-proc 1 proc').hint);
  });
});
