import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LineFramer } from './line-framer.js';

test("lines split at newlines; a line's descriptors are those of the chunk its first byte came in", () => {
  const f = new LineFramer<string>(100);
  let r = f.push(Buffer.from('{"a":1}\n{"b"'), ['A']);
  assert.deepEqual(r.lines, [{ text: '{"a":1}', fds: ['A'] }]);
  assert.equal(f.partial, true);
  r = f.push(Buffer.from(':2}\n'), ['B']);
  // B arrived with bytes of the second line: it belongs to it (the kernel never joins chunks across descriptors).
  assert.deepEqual(r.lines, [{ text: '{"b":2}', fds: ['B'] }]);
  assert.equal(f.partial, false);
});

test('a carriage return before the newline is dropped', () => {
  const f = new LineFramer<number>(100);
  assert.deepEqual(
    f.push(Buffer.from('x\r\ny\n'), []).lines.map((l) => l.text),
    ['x', 'y'],
  );
});

test('a line longer than the limit is an overflow, with or without its newline', () => {
  assert.equal(new LineFramer<number>(4).push(Buffer.from('12345'), []).overflow, true);
  assert.equal(new LineFramer<number>(4).push(Buffer.from('12345\n'), []).overflow, true);
  const f = new LineFramer<number>(4);
  assert.equal(f.push(Buffer.from('123'), []).overflow, false);
  assert.equal(f.push(Buffer.from('45'), []).overflow, true);
  assert.equal(new LineFramer<number>(4).push(Buffer.from('1234\n'), []).overflow, false);
});

test('pending descriptors of an unfinished line are handed back', () => {
  const f = new LineFramer<number>(100);
  f.push(Buffer.from('abc'), [7, 8]);
  assert.deepEqual(f.takePendingFds(), [7, 8]);
  assert.deepEqual(f.takePendingFds(), []);
});

test('however the stream is cut, the same lines come out (property)', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.string({ unit: 'grapheme-ascii', maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, '')),
        { maxLength: 20 },
      ),
      fc.array(fc.nat(40), { maxLength: 30 }),
      (lines, cuts) => {
        const text = Buffer.from(lines.map((l) => `${l}\n`).join(''));
        const f = new LineFramer<number>(1000);
        const out: string[] = [];
        let at = 0;
        for (const c of [...cuts, text.length]) {
          const end = Math.min(text.length, at + c);
          out.push(...f.push(text.subarray(at, end), []).lines.map((l) => l.text));
          at = end;
        }
        out.push(...f.push(text.subarray(at), []).lines.map((l) => l.text));
        assert.deepEqual(out, lines);
      },
    ),
  );
});
