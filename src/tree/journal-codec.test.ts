import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type JournalHeader, decodeJournal, encodeJournal } from './journal-codec.js';
import { NO_PARENT, type NameTree, buildPathTable, pathListAt, pathListLength, pathListTree } from './path-table.js';
import { type EntryXattrs, NO_XATTRS, type ShiftPlan } from './plan.js';
import { encodeOldJournal as encodeOld } from '../../test/support/old-journal.js';

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
/** One component: not empty, no '/' or NUL, not . or .. */
const name = fc
  .string({ minLength: 1, maxLength: 12 })
  .map((s) => Buffer.from(s, 'utf8').toString('latin1').replace(/[\0/]/g, '_'))
  .map((s) => (s === '.' || s === '..' ? `${s}_` : s));
const row = fc.record({
  name,
  /** Which directory among the rows before it holds it. */
  dirPick: fc.nat(),
  isDir: fc.boolean(),
  ino: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  dev: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  perm: fc.integer({ min: 0, max: 0o7777 }),
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

type Form = 'strings' | 'table' | 'tree';

/**
 * A plan of a tree, as a scan gives one: row 0 the root directory, then the
 * rows, each in a directory row before it; its paths as strings, a table of
 * whole paths, or names with directory rows (the C engine's).
 */
function planOf(rows: Row[], form: Form): ShiftPlan {
  const all = [{ ...rows[0], name: '', isDir: true }, ...rows];
  const before = new Map<number, EntryXattrs>(),
    after = new Map<number, EntryXattrs>();
  const dirs = [0];
  const paths: string[] = [''];
  const names: string[] = [''];
  const parents: number[] = [NO_PARENT];
  // A directory holds each name once, as on a real file system.
  const taken = new Set<string>();
  all.forEach((r, i) => {
    if (i > 0) {
      const up = dirs[r.dirPick % dirs.length];
      let nm = r.name;
      while (taken.has(`${up}/${nm}`)) nm = `${nm}~${i}`;
      taken.add(`${up}/${nm}`);
      parents.push(up);
      names.push(nm);
      paths.push(up === 0 ? nm : `${paths[up]}/${nm}`);
      if (r.isDir) dirs.push(i);
    }
    const b = clean(r.before),
      a = clean(r.after);
    if (b !== NO_XATTRS || a !== NO_XATTRS) {
      before.set(i, b);
      after.set(i, a);
    }
  });
  const tree: NameTree = { names: buildPathTable(names), parents: Uint32Array.from(parents) };
  return {
    paths: form === 'tree' ? tree : form === 'table' ? buildPathTable(paths) : paths,
    ino: Float64Array.from(all, (r) => r.ino),
    dev: Float64Array.from(all, (r) => r.dev),
    mode: Uint32Array.from(all, (r) => (r.isDir ? 0o040000 : 0o100000) | r.perm),
    uid: Uint32Array.from(all, (r) => r.uid),
    gid: Uint32Array.from(all, (r) => r.gid),
    newUid: Uint32Array.from(all, (r) => r.newUid),
    newGid: Uint32Array.from(all, (r) => r.newGid),
    flags: Uint8Array.from(all, (r) => r.flags),
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

test('property: decodeJournal(encodeJournal(h, plan)) gives the plan back, paths given as strings, a table or names with directory rows', () => {
  fc.assert(
    fc.property(fc.array(row, { minLength: 1, maxLength: 30 }), fc.constantFrom<Form>('strings', 'table', 'tree'), (rows, form) => {
      const plan = planOf(rows, form);
      const h = header(rows.length + 1);
      const back = decodeJournal(encodeJournal(h, plan));
      assert.deepEqual(back.header, h);
      assert.deepEqual(plain(back.plan), plain(plan));
    }),
  );
});

test('property: journals of versions 2, 3 and 4 (whole paths) are still read; without a dev column (2, 3) dev is unknown (NaN)', () => {
  fc.assert(
    fc.property(fc.array(row, { minLength: 1, maxLength: 20 }), fc.constantFrom<2 | 3 | 4>(2, 3, 4), (rows, version) => {
      const plan = planOf(rows, 'tree');
      const back = decodeJournal(encodeOld(version, header(rows.length + 1), plan)).plan;
      const want = plain(plan);
      if (version < 4) {
        assert.ok([...back.dev].every(Number.isNaN));
        assert.deepEqual({ ...plain(back), dev: want.dev }, want);
      } else assert.deepEqual(plain(back), want);
      // What the C engine is given: names and directory rows, the same paths.
      const tree = pathListTree(back.paths);
      assert.ok(tree);
      assert.deepEqual(plain({ ...back, paths: tree }).paths, want.paths);
    }),
  );
});

test('journal: its size follows the entries, not the depth of their paths', () => {
  const entry = {
    dirPick: 0,
    ino: 1,
    dev: 1,
    perm: 0o755,
    uid: 0,
    gid: 0,
    newUid: 1,
    newGid: 1,
    flags: 1,
    before: undefined,
    after: undefined,
  };
  const rows = (deep: boolean) =>
    Array.from({ length: 2000 }, (_, i) => ({ ...entry, name: `d${String(i).padStart(3, '0')}`, isDir: true, dirPick: deep ? i : 0 }));
  const flat = encodeJournal(header(2001), planOf(rows(false), 'tree')).length;
  const deep = encodeJournal(header(2001), planOf(rows(true), 'tree')).length;
  const deepFromStrings = encodeJournal(header(2001), planOf(rows(true), 'strings')).length;
  assert.equal(deep, flat);
  assert.equal(deepFromStrings, flat);
  assert.ok(deep / 2001 < 60, `${deep / 2001} bytes per entry`);
  // Version 4 stored each whole path: 2000 levels of 5 bytes.
  assert.ok(encodeOld(4, header(2001), planOf(rows(true), 'tree')).length > 100 * deep);
});

test('journal: a truncated or altered journal is refused with ERR_SHIFT_JOURNAL_CORRUPT', () => {
  const one = { ino: 1, dev: 1, perm: 0o644, uid: 0, gid: 0, newUid: 1, newGid: 1, flags: 1, before: undefined, after: undefined };
  const plan = planOf(
    [
      { ...one, name: 'x', dirPick: 0, isDir: true },
      { ...one, name: 'y', dirPick: 1, isDir: false },
      { ...one, name: 'z', dirPick: 0, isDir: false },
    ],
    'tree',
  );
  const good = Buffer.from(encodeJournal(header(4), plan));
  assert.doesNotThrow(() => decodeJournal(good));
  const headLen = good.readUInt32LE(24);
  const namesAt = 24 + 4 + headLen + 8;
  const nameBytes = good.readUInt32LE(namesAt - 4);
  const parentsAt = namesAt + nameBytes;
  const altered = (f: (b: Buffer) => void) => {
    const b = Buffer.from(good);
    f(b);
    return b;
  };
  for (const [why, bad] of [
    ['truncated', good.subarray(0, good.length - 3)],
    ['a byte too many', Buffer.concat([good, Buffer.from([0])])],
    ['bad magic', Buffer.concat([Buffer.from('X'), good.subarray(1)])],
    ['a name loses its terminator', altered((b) => (b[namesAt + 2] = 0x79))],
    ['a name with a slash', altered((b) => (b[namesAt + 1] = 0x2f))],
    ['a name ..', altered((b) => b.write('..', namesAt + 1, 'latin1'))],
    ['a directory row out of range', altered((b) => b.writeUInt32LE(99, parentsAt + 8))],
    ['a directory that is a file', altered((b) => b.writeUInt32LE(3, parentsAt + 8))],
    ['a loop of directories', altered((b) => b.writeUInt32LE(1, parentsAt + 4))],
    ['the root with a directory', altered((b) => b.writeUInt32LE(1, parentsAt))],
  ] as const) {
    assert.throws(() => decodeJournal(bad), { code: 'ERR_SHIFT_JOURNAL_CORRUPT' }, why);
  }
});
