import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type JournalHeader, decodeJournal, encodeJournal } from './journal-codec.js';
import { buildPathTable, pathListAt, pathListLength } from './path-table.js';
import { type EntryXattrs, NO_XATTRS, type ShiftPlan } from './plan.js';

const header = (rows: number): JournalHeader => ({
  version: 1,
  root: '/srv/t',
  rootBytes: '/srv/t',
  rootIno: 2,
  rootDev: 2049,
  map: '0 100000 65536\n',
  direction: 'down',
  unmapped: { kind: 'refuse' },
  crossFilesystems: false,
  created: '2026-01-01T00:00:00.000Z',
  actions: rows,
  fingerprintAfter: '1:00',
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = fc.uint8Array({ minLength: 1, maxLength: 40 });
const xattrs = fc.option(
  fc.record({ aclAccess: fc.option(bytes, { nil: undefined }), capability: fc.option(bytes, { nil: undefined }) }, { requiredKeys: [] }),
  { nil: undefined },
);
const row = fc.record({
  path: fc.string({ maxLength: 30 }).map((s) => Buffer.from(s, 'utf8').toString('latin1').replace(/\0/g, '_')),
  ino: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  dev: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  mode: u32,
  uid: u32,
  gid: u32,
  newUid: u32,
  newGid: u32,
  flags: fc.integer({ min: 0, max: 31 }),
  before: xattrs,
  after: xattrs,
});
type Row = typeof row extends fc.Arbitrary<infer T> ? T : never;

const clean = (x: Record<string, Uint8Array | undefined> | undefined): EntryXattrs => {
  const e = Object.fromEntries(Object.entries(x ?? {}).filter(([, v]) => v !== undefined));
  return Object.keys(e).length === 0 ? NO_XATTRS : e;
};

/** A plan from rows; paths as strings or, like the C engine's, as one table. */
function planOf(rows: Row[], asTable: boolean): ShiftPlan {
  const before = new Map<number, EntryXattrs>(),
    after = new Map<number, EntryXattrs>();
  rows.forEach((r, i) => {
    const b = clean(r.before),
      a = clean(r.after);
    if (b !== NO_XATTRS || a !== NO_XATTRS) {
      before.set(i, b);
      after.set(i, a);
    }
  });
  const paths = rows.map((r) => r.path);
  return {
    paths: asTable ? buildPathTable(paths) : paths,
    ino: Float64Array.from(rows, (r) => r.ino),
    dev: Float64Array.from(rows, (r) => r.dev),
    mode: Uint32Array.from(rows, (r) => r.mode),
    uid: Uint32Array.from(rows, (r) => r.uid),
    gid: Uint32Array.from(rows, (r) => r.gid),
    newUid: Uint32Array.from(rows, (r) => r.newUid),
    newGid: Uint32Array.from(rows, (r) => r.newGid),
    flags: Uint8Array.from(rows, (r) => r.flags),
    before,
    after,
  };
}

/** A plan as plain values, to compare: paths as strings, maps as objects with plain values. */
function plain(p: ShiftPlan) {
  const n = pathListLength(p.paths);
  const map = (m: ReadonlyMap<number, EntryXattrs>) =>
    [...m]
      .filter(([, x]) => Object.keys(x).length > 0)
      .map(([i, x]) => [i, Object.fromEntries(Object.entries(x).map(([k, v]) => [k, [...v]]))])
      .sort((a, b) => (a[0] as number) - (b[0] as number));
  return {
    paths: Array.from({ length: n }, (_, i) => pathListAt(p.paths, i)),
    ino: [...p.ino],
    dev: [...p.dev],
    mode: [...p.mode],
    uid: [...p.uid],
    gid: [...p.gid],
    newUid: [...p.newUid],
    newGid: [...p.newGid],
    flags: [...p.flags],
    before: map(p.before),
    after: map(p.after),
  };
}

test('property: decodeJournal(encodeJournal(h, plan)) gives the plan back, paths given as strings or as a table', () => {
  fc.assert(
    fc.property(fc.array(row, { maxLength: 30 }), fc.boolean(), (rows, asTable) => {
      const plan = planOf(rows, asTable);
      const back = decodeJournal(encodeJournal(header(rows.length), plan));
      assert.deepEqual(back.header, header(rows.length));
      assert.deepEqual(plain(back.plan), plain(plan));
    }),
  );
});

test('journal: version-2 and version-3 journals (no dev column) are still read, dev unknown (NaN)', () => {
  const plan = planOf(
    [
      {
        path: 'a/b',
        ino: 7,
        dev: 2049,
        mode: 0o100644,
        uid: 0,
        gid: 0,
        newUid: 1,
        newGid: 1,
        flags: 1,
        before: undefined,
        after: undefined,
      },
    ],
    false,
  );
  const v4 = Buffer.from(encodeJournal(header(1), plan));
  // The dev column (8 bytes per row) follows the ino column, right after the paths.
  const headLen = v4.readUInt32LE(24);
  const pathBytes = v4.readUInt32LE(24 + 4 + headLen + 4);
  const devAt = 24 + 4 + headLen + 8 + pathBytes + 8;
  for (const version of ['2', '3']) {
    const old = Buffer.concat([
      Buffer.from(`FSIDMAP-SHIFT-JOURNAL ${version}\n`, 'latin1'),
      v4.subarray(24, devAt),
      v4.subarray(devAt + 8),
    ]);
    const back = decodeJournal(old).plan;
    assert.ok(Number.isNaN(back.dev[0]));
    assert.deepEqual({ ...plain(back), dev: [2049] }, plain(plan));
  }
});

test('journal: a truncated or altered journal is refused with ERR_SHIFT_JOURNAL_CORRUPT', () => {
  const plan = planOf(
    [{ path: 'x', ino: 1, dev: 1, mode: 0o100644, uid: 0, gid: 0, newUid: 1, newGid: 1, flags: 1, before: undefined, after: undefined }],
    true,
  );
  const good = Buffer.from(encodeJournal(header(1), plan));
  const noNul = Buffer.from(good);
  noNul[noNul.indexOf(Buffer.from('x\0', 'latin1')) + 1] = 0x79; // the path loses its terminator
  for (const bad of [
    good.subarray(0, good.length - 3),
    Buffer.concat([good, Buffer.from([0])]),
    Buffer.concat([Buffer.from('X'), good.subarray(1)]),
    noNul,
  ]) {
    assert.throws(() => decodeJournal(bad), { code: 'ERR_SHIFT_JOURNAL_CORRUPT' });
  }
});
