import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { CommandIO } from './command.js';
import { formatProgress, progressLine } from './progress.js';

test('progress: bar, counts, rate and time left', () => {
  assert.equal(
    formatProgress({ label: 'shifting', done: 25000, total: 100000 }, 1),
    'shifting [######------------------] 25,000/100,000  25% 25,000/s ETA 3s',
  );
  assert.equal(formatProgress({ label: 'reading', done: 5000, total: null }, 2), 'reading 5,000 entries 2,500/s');
});

function io(interactive: boolean): { io: CommandIO; text: () => string } {
  const err = new PassThrough();
  let text = '';
  err.on('data', (d) => {
    text += d;
  });
  return { io: { stdout: new PassThrough(), stderr: err, stdin: new PassThrough(), env: {}, interactive }, text: () => text };
}

test('progress: silent when stderr is not a terminal, drawn and cleared when it is', async () => {
  const quiet = io(false);
  const p = progressLine(quiet.io);
  p.update({ label: 'x', done: 1, total: 2 });
  p.end();
  await new Promise((r) => setImmediate(r));
  assert.equal(quiet.text(), '');
  const tty = io(true);
  let t = 0;
  const q = progressLine(tty.io, () => (t += 200));
  q.update({ label: 'x', done: 1, total: 2 });
  q.end();
  await new Promise((r) => setImmediate(r));
  assert.match(tty.text(), /^\rx \[/);
  assert.ok(tty.text().endsWith('\r\x1b[K'));
});
