import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type JournalHeader, decodeJournal, encodeJournal } from './journal-codec.js';
import { NO_XATTRS, type ShiftAction } from './plan.js';

const header = (actions: number): JournalHeader => ({
  version: 1, root: '/srv/t', rootBytes: '/srv/t', rootIno: 2, rootDev: 2049, map: '0 100000 65536\n', direction: 'down',
  unmapped: { kind: 'refuse' }, crossFilesystems: false, created: '2026-01-01T00:00:00.000Z', actions, fingerprintAfter: '1:00',
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = fc.uint8Array({ minLength: 1, maxLength: 40 });
const xattrs = fc.option(fc.record({ aclAccess: fc.option(bytes, { nil: undefined }), capability: fc.option(bytes, { nil: undefined }) }, { requiredKeys: [] }), { nil: undefined });
const action = fc.record({
  path: fc.string({ maxLength: 30 }).map((s) => Buffer.from(s, 'utf8').toString('latin1').replace(/\0/g, '_')),
  ino: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), mode: u32, uid: u32, gid: u32, newUid: u32, newGid: u32,
  flags: fc.integer({ min: 0, max: 31 }), before: xattrs, after: xattrs,
}).map((a): ShiftAction => {
  const clean = (x: Record<string, Uint8Array | undefined> | undefined) => {
    const e = Object.fromEntries(Object.entries(x ?? {}).filter(([, v]) => v !== undefined));
    return Object.keys(e).length === 0 ? NO_XATTRS : e;
  };
  return { ...a, before: clean(a.before), after: clean(a.after) };
});

test('property: decodeJournal(encodeJournal(h, actions)) gives them back', () => {
  fc.assert(fc.property(fc.array(action, { maxLength: 30 }), (actions) => {
    const back = decodeJournal(encodeJournal(header(actions.length), actions));
    assert.deepEqual(back.header, header(actions.length));
    assert.deepEqual(back.actions.map((a) => ({ ...a, before: { ...a.before }, after: { ...a.after } })), actions.map((a) => ({ ...a, before: { ...a.before }, after: { ...a.after } })));
  }));
});

test('journal: a truncated or altered journal is refused with ERR_SHIFT_JOURNAL_CORRUPT', () => {
  const a: ShiftAction = { path: 'x', ino: 1, mode: 0o100644, uid: 0, gid: 0, newUid: 1, newGid: 1, flags: 1, before: NO_XATTRS, after: NO_XATTRS };
  const good = encodeJournal(header(1), [a]);
  for (const bad of [good.subarray(0, good.length - 3), Buffer.concat([good, Buffer.from([0])]), Buffer.concat([Buffer.from('X'), good.subarray(1)])]) {
    assert.throws(() => decodeJournal(bad), { code: 'ERR_SHIFT_JOURNAL_CORRUPT' });
  }
});
