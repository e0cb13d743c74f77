import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuditBudget, auditLine, escapeLine } from './audit-record.js';

const decision = { time: '2026-01-01T00:00:00.000Z', peer: { uid: 1000, gid: 1000, pid: 4, user: 'a' }, conn: 1, op: 'mount', id: 7 };

test('every non-ASCII line separator and control is escaped, and the line parses back to the same record', () => {
  const nasty = 'a\u2028b\u2029c\u0085d\u007fe\u009bf\n\r\tg\u0000';
  const line = auditLine({ ...decision, decision: 'refused', code: 'ERR_X', reason: nasty, request: { path: nasty } }, 4096);
  assert.equal(line.indexOf('\n'), line.length - 1, 'one line');
  assert.doesNotMatch(line.slice(0, -1), /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
  assert.equal(JSON.parse(line).reason, nasty);
  assert.equal(JSON.parse(line).request.path, nasty);
  assert.equal(escapeLine('"\u2028"'), '"\\u2028"');
});

test('a long record is cut to maxBytes with a marker; the decision stays whole', () => {
  for (const size of [5000, 59000, 1_000_000]) {
    const junk = 'x'.repeat(size);
    const line = auditLine(
      { ...decision, decision: 'refused', code: 'ERR_BROKER_PROTOCOL', reason: junk, request: { line: junk }, context: { junk } },
      4096,
    );
    assert.ok(Buffer.byteLength(line) <= 4096, `${Buffer.byteLength(line)} bytes`);
    const r = JSON.parse(line);
    assert.deepEqual([r.peer, r.op, r.id, r.decision, r.code], [decision.peer, 'mount', 7, 'refused', 'ERR_BROKER_PROTOCOL']);
    assert.match(r.reason, /…\(cut: \d+ characters\)$/);
    assert.ok(r.cut.bytes > size);
    assert.deepEqual(r.cut.fields, ['reason', 'request', 'context']);
  }
  const small = auditLine({ ...decision, decision: 'allowed', code: null, reason: 'ok' }, 4096);
  assert.equal(JSON.parse(small).cut, undefined, 'a short record is unchanged');
});

test('the volume budget refills at its rate and says when a record must be written short', () => {
  const b = new AuditBudget(1000, 3000);
  assert.equal(b.take('uid:1', 2000, 0), true);
  assert.equal(b.take('uid:1', 2000, 0), false);
  assert.equal(b.take('uid:2', 2000, 0), true, 'per owner');
  assert.equal(b.take('uid:1', 2000, 1000), true, 'one second refilled 1000 bytes');
});
