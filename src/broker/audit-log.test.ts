import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FsidmapError } from '../errors.js';
import { AuditLog, type AuditRecord } from './audit-log.js';

const peer = { uid: 1000, gid: 1000, pid: 42, user: 'alice' };
const rec = (over: Partial<AuditRecord>): AuditRecord => ({
  peer,
  conn: 1,
  op: 'hello',
  id: 1,
  request: { op: 'hello' },
  decision: 'allowed',
  code: null,
  reason: 'ok',
  ...over,
});

function withLog(fn: (path: string, dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'fsidmap-audit-'));
  try {
    fn(join(dir, 'sub', 'audit.log'), dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const lines = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

test('one JSON line per decision, with the time, the peer, the request, the decision and the reason', () => {
  withLog((path) => {
    const log = AuditLog.open(path, { now: () => Date.UTC(2026, 0, 2, 3, 4, 5) });
    log.record(rec({ decision: 'refused', code: 'ERR_X', reason: 'not yours' }));
    log.close();
    assert.deepEqual(lines(path), [
      { time: '2026-01-02T03:04:05.000Z', ...rec({ decision: 'refused', code: 'ERR_X', reason: 'not yours' }) },
    ]);
  });
});

test('every refusal is written, except rate-limit refusals past the per-second budget, which are counted', () => {
  withLog((path) => {
    let t = 1000;
    const log = AuditLog.open(path, { refusalsPerSecond: 3, now: () => t });
    for (let i = 0; i < 5; i++) log.record(rec({ decision: 'refused', code: 'ERR_BROKER_PROTOCOL', reason: `bad ${i}` }));
    for (let i = 0; i < 10; i++) log.record(rec({ decision: 'refused', code: 'ERR_BROKER_RATE_LIMITED', reason: 'slow down' }));
    t = 2500;
    log.flush();
    log.close();
    const all = lines(path);
    assert.equal(all.filter((l) => l.code === 'ERR_BROKER_PROTOCOL').length, 5);
    assert.equal(all.filter((l) => l.code === 'ERR_BROKER_RATE_LIMITED').length, 3);
    const summary = all.filter((l) => l.code === 'ERR_BROKER_AUDIT_SUPPRESSED');
    assert.equal(summary.length, 1);
    assert.equal(summary[0].suppressed, 7);
    assert.deepEqual(summary[0].peer, peer);
  });
});

test('connections refused at accept are counted past the budget, per owner and code; a refused request never is', () => {
  withLog((path) => {
    let t = 1000;
    const log = AuditLog.open(path, { refusalsPerSecond: 3, now: () => t });
    const sub = { ...peer, uid: 100005, account: 'uid:1000' };
    const atAccept = { op: null, id: null, request: null, decision: 'refused' as const, reason: 'limit' };
    for (let i = 0; i < 10; i++) log.record(rec({ ...atAccept, peer: { ...sub, uid: 100000 + i }, code: 'ERR_BROKER_LIMIT' }));
    for (let i = 0; i < 4; i++) log.record(rec({ ...atAccept, code: 'ERR_BROKER_BUSY' }));
    for (let i = 0; i < 6; i++) log.record(rec({ op: 'alloc', decision: 'refused', code: 'ERR_BROKER_LIMIT', reason: 'allocations' }));
    t = 2500;
    log.flush();
    log.close();
    const all = lines(path);
    assert.equal(all.filter((l) => l.code === 'ERR_BROKER_LIMIT' && l.op === null).length, 3);
    assert.equal(all.filter((l) => l.code === 'ERR_BROKER_BUSY').length, 3);
    assert.equal(all.filter((l) => l.code === 'ERR_BROKER_LIMIT' && l.op === 'alloc').length, 6, 'decisions on requests are all written');
    const summary = all.filter((l) => l.code === 'ERR_BROKER_AUDIT_SUPPRESSED').map((l) => [l.suppressedCode, l.suppressed]);
    assert.deepEqual(summary.sort(), [
      ['ERR_BROKER_BUSY', 1],
      ['ERR_BROKER_LIMIT', 7],
    ]);
  });
});

test('a symlink or anything but a regular file is refused as the audit log', () => {
  withLog((path, dir) => {
    symlinkSync('/etc/hostname', join(dir, 'link'));
    assert.throws(
      () => AuditLog.open(join(dir, 'link')),
      (e: unknown) => e instanceof FsidmapError && e.code === 'ERR_BROKER_AUDIT_LOG',
    );
    assert.throws(
      () => AuditLog.open(dir),
      (e: unknown) => e instanceof FsidmapError && e.code === 'ERR_BROKER_AUDIT_LOG',
    );
    void path;
  });
});
