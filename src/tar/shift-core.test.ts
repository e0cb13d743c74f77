import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type FsidmapError } from '../errors.js';
import { IdMap, parseMap } from '../idmap/index.js';
import { buildArchive, buildGlobal, type TestEntry } from '../../test/support/tar-builder.js';
import { type TarEntry, TarEntryParser } from './entry-parser.js';
import { F, decodeHeader } from './header.js';
import { IdShifter, type ShiftOptions } from './id-shift.js';
import { decodeNumeric } from './large-numbers.js';
import { TarShiftCore } from './shift-core.js';
import type { TarWarning } from './warnings.js';
import { readCapabilityRoot, readPosixAclIds } from '../ownership/xattr-codec.js';

const SHIFT = parseMap('0 100000 65536\n');

/** Runs the core over `input` cut into chunks of the given sizes (cycled); returns the output and warnings. */
function shift(
  input: Buffer,
  options: ShiftOptions,
  sizes: number[] = [input.length],
): { out: Buffer; warnings: TarWarning[]; core: TarShiftCore } {
  const pieces: Buffer[] = [];
  const warnings: TarWarning[] = [];
  const core = new TarShiftCore({ shifter: new IdShifter(options), warn: (w) => warnings.push(w) }, (p) => pieces.push(Buffer.from(p)));
  const copy = Buffer.from(input); // the core patches its chunks in place
  let at = 0;
  for (let i = 0; at < copy.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]);
    core.push(copy.subarray(at, at + n));
    at += n;
  }
  core.end();
  return { out: Buffer.concat(pieces), warnings, core };
}

function entries(archive: Buffer): Array<TarEntry & { data: Buffer }> {
  const parser = new TarEntryParser(() => undefined);
  const out: Array<TarEntry & { data: Buffer }> = [];
  let data: Buffer[] = [];
  for (const ev of parser.push(Buffer.from(archive))) {
    if (ev.kind === 'entry') {
      out.push({ ...ev.entry, data: Buffer.alloc(0) });
      data = [];
    } else if (ev.kind === 'data') data.push(Buffer.from(ev.bytes));
    else out[out.length - 1].data = Buffer.concat(data);
  }
  parser.end();
  return out;
}

const sample: TestEntry[] = [
  { path: 'root', type: 'dir', uid: 0, gid: 0, mode: 0o755 },
  { path: 'root/file', uid: 1000, gid: 1000, data: Buffer.from('hello world\n'), mode: 0o4755 },
  { path: 'root/link', type: 'symlink', uid: 0, gid: 5, linkname: 'file' },
  { path: 'root/hard', type: 'hardlink', uid: 1000, gid: 1000, linkname: 'root/file' },
  { path: 'root/big', uid: 7, gid: 8, data: Buffer.alloc(5000, 7) },
];

test('identity map with names kept: every byte comes out as it went in (ustar, gnu, v7)', () => {
  for (const format of ['ustar', 'gnu', 'v7'] as const) {
    const archive = buildArchive(sample, format);
    const { out, warnings } = shift(archive, { map: IdMap.identity(), names: 'keep' });
    assert.ok(out.equals(archive), format);
    assert.deepEqual(warnings, []);
  }
});

test('shift then reverse with names kept gives back the original bytes', () => {
  const archive = buildArchive(sample, 'gnu');
  const there = shift(archive, { map: SHIFT, names: 'keep' }).out;
  assert.ok(!there.equals(archive));
  const back = shift(there, { map: SHIFT, direction: 'up', names: 'keep' }).out;
  assert.ok(back.equals(archive));
});

test('headers get the mapped ids, data is untouched, checksums are valid', () => {
  const archive = buildArchive(sample, 'ustar');
  const { out, core } = shift(archive, { map: SHIFT });
  assert.equal(out.length, archive.length);
  const before = entries(archive);
  const after = entries(out);
  assert.deepEqual(
    after.map((e) => [e.path, e.uid, e.gid, e.mode, e.linkpath]),
    before.map((e) => [e.path, e.uid + 100000, e.gid + 100000, e.mode, e.linkpath]),
  );
  assert.deepEqual(
    after.map((e) => e.data.toString('hex')),
    before.map((e) => e.data.toString('hex')),
  );
  assert.deepEqual(
    after.map((e) => [e.uname, e.gname]),
    before.map(() => ['', '']),
    'names cleared by default',
  );
  assert.equal(core.stats.entries, 5);
  assert.equal(core.stats.headersRewritten, 5);
});

test('names keep: uname/gname stay as stored (mmtarfilter --idshift behaviour)', () => {
  const { out } = shift(buildArchive(sample, 'ustar'), { map: SHIFT, names: 'keep' });
  assert.deepEqual(
    entries(out).map((e) => e.uname),
    sample.map(() => 'user'),
  );
});

test('ids beyond 2097151: base-256 in GNU headers, an inserted PAX header for ustar and v7', () => {
  const big = parseMap('0 3000000 65536\n');
  const gnu = shift(buildArchive(sample, 'gnu'), { map: big });
  assert.equal(gnu.out.length, buildArchive(sample, 'gnu').length, 'GNU: same size, no PAX');
  const h = gnu.out.subarray(0, 512);
  assert.equal(h[F.uid[0]], 0x80);
  for (const format of ['ustar', 'v7'] as const) {
    const r = shift(buildArchive(sample, format), { map: big });
    assert.equal(r.core.stats.paxCreated, 5, format);
    const after = entries(r.out);
    assert.deepEqual(
      after.map((e) => [e.path, e.uid, e.gid]),
      sample.map((e) => [e.path, e.uid + 3000000, e.gid + 3000000]),
      format,
    );
    const first = decodeHeader(r.out.subarray(0, 512));
    assert.ok(first.ok && first.header.typeflag === 0x78 && first.header.path === './PaxHeaders/root');
  }
});

test("PAX uid/gid records are shifted (the header field keeps GNU tar's 0 placeholder)", () => {
  const archive = buildArchive(
    [
      {
        path: 'f',
        uid: 0,
        gid: 0,
        data: Buffer.from('x'),
        pax: [
          ['uid', '3000000'],
          ['gid', '4000000'],
          ['mtime', '1700000000.25'],
        ],
      },
    ],
    'ustar',
  );
  const { out, core } = shift(archive, { map: parseMap('0 0 1\n3000000 100 1\n4000000 200 1\n') });
  const [e] = entries(out);
  assert.deepEqual([e.uid, e.gid, e.mtime], [100, 200, 1700000000.25]);
  assert.equal(core.stats.paxRewritten, 1);
  // The header field mirrors the record now that it fits.
  const hdr = out.subarray(out.length - 1024 - 1024, out.length - 1024 - 512);
  const field = decodeNumeric(hdr, F.uid[0], 8);
  assert.ok(field.ok && field.value === 100);
});

test('a global PAX uid applies to later entries and is shifted; header fields it overrides move only where mapped', () => {
  const archive = buildArchive(
    [
      { path: 'a', uid: 5, gid: 5 },
      { path: 'b', uid: 6, gid: 6 },
    ],
    'ustar',
    [
      buildGlobal([
        ['uid', '42'],
        ['comment', 'x'],
      ]),
    ],
  );
  const { out, core } = shift(archive, { map: parseMap('42 4200 1\n5 500 1\n'), unmapped: { kind: 'refuse' }, gidMap: IdMap.identity() });
  assert.equal(core.stats.globalHeaders, 1);
  assert.deepEqual(
    entries(out).map((e) => [e.path, e.uid, e.gid]),
    [
      ['a', 4200, 5],
      ['b', 4200, 6],
    ],
  );
});

test('ACLs in PAX records: text and binary ids shifted, named entries resolved through the binary copy', () => {
  const bin = Buffer.alloc(4 + 8 * 5);
  bin.writeUInt32LE(2, 0);
  [
    [1, 7, 0xffffffff],
    [2, 7, 1],
    [2, 5, 1234],
    [8, 4, 2345],
    [0x20, 4, 0xffffffff],
  ].forEach(([t, p, id], i) => {
    bin.writeUInt16LE(t, 4 + 8 * i);
    bin.writeUInt16LE(p, 6 + 8 * i);
    bin.writeUInt32LE(id, 8 + 8 * i);
  });
  const cap = Buffer.alloc(24);
  cap.writeUInt32LE(0x03000001, 0);
  cap.writeUInt32LE(0, 20);
  const archive = buildArchive(
    [
      {
        path: 'f',
        uid: 0,
        gid: 0,
        data: Buffer.from('x'),
        pax: [
          ['SCHILY.acl.access', 'user::rwx\nuser:daemon:rwx\nuser:1234:r-x\ngroup:2345:r--\nother::r--\n'],
          ['SCHILY.xattr.system.posix_acl_access', bin],
          ['SCHILY.xattr.security.capability', cap],
        ],
      },
    ],
    'ustar',
  );
  const [clear] = entries(shift(archive, { map: SHIFT }).out);
  assert.equal(clear.aclAccess, 'user::rwx\nuser:100001:rwx\nuser:101234:r-x\ngroup:102345:r--\nother::r--\n');
  assert.deepEqual(readPosixAclIds(clear.xattrs.get('system.posix_acl_access')!), { users: [100001, 101234], groups: [102345] });
  assert.deepEqual(readCapabilityRoot(clear.xattrs.get('security.capability')!), { kind: 'v3', rootid: 100000 });
  const [keep] = entries(shift(archive, { map: SHIFT, names: 'keep' }).out);
  assert.equal(keep.aclAccess, 'user::rwx\nuser:daemon:rwx\nuser:101234:r-x\ngroup:102345:r--\nother::r--\n');
});

test("bsdtar's LIBARCHIVE.xattr records (percent-encoded name, base64 value) are shifted like SCHILY.xattr ones", () => {
  const bin = Buffer.alloc(4 + 8 * 2);
  bin.writeUInt32LE(2, 0);
  [
    [2, 7, 1234],
    [8, 4, 2345],
  ].forEach(([t, p, id], i) => {
    bin.writeUInt16LE(t, 4 + 8 * i);
    bin.writeUInt16LE(p, 6 + 8 * i);
    bin.writeUInt32LE(id, 8 + 8 * i);
  });
  const b64 = bin.toString('base64').replace(/=+$/, '');
  const archive = buildArchive([{ path: 'f', uid: 0, gid: 0, pax: [['LIBARCHIVE.xattr.system.posix_acl_access', b64]] }], 'ustar');
  const [e] = entries(shift(archive, { map: SHIFT }).out);
  assert.deepEqual(readPosixAclIds(e.xattrs.get('system.posix_acl_access')!), { users: [101234], groups: [102345] });
  const raw = e.records.find((r) => r.key === 'LIBARCHIVE.xattr.system.posix_acl_access')!.value.toString('latin1');
  assert.equal(raw.includes('='), false, 'unpadded base64 stays unpadded');
});

test('a named ACL entry without a binary copy is left as written, with a warning', () => {
  const archive = buildArchive(
    [{ path: 'f', uid: 0, gid: 0, pax: [['SCHILY.acl.access', 'user::rwx\nuser:daemon:rwx\nother::r--\n']] }],
    'ustar',
  );
  const r = shift(archive, { map: SHIFT });
  assert.deepEqual(
    r.warnings.map((w) => w.code),
    ['TAR_ACL_NAMED_ENTRY'],
  );
  assert.equal(entries(r.out)[0].aclAccess, 'user::rwx\nuser:daemon:rwx\nother::r--\n');
});

test('unmapped ids: refuse names the entry and the id; keep leaves it; an id replaces it', () => {
  const archive = buildArchive(
    [
      { path: 'ok', uid: 1, gid: 1 },
      { path: 'odd', uid: 70000, gid: 1 },
    ],
    'ustar',
  );
  assert.throws(
    () => shift(archive, { map: SHIFT }),
    (e: FsidmapError) => e.code === 'ERR_TAR_UNMAPPED_ID' && e.context.path === 'odd' && e.context.id === 70000 && e.context.kind === 'uid',
  );
  assert.deepEqual(
    entries(shift(archive, { map: SHIFT, unmapped: { kind: 'keep' } }).out).map((e) => e.uid),
    [100001, 70000],
  );
  const r = shift(archive, { map: SHIFT, unmapped: { kind: 'replace', id: 65534 } });
  assert.deepEqual(
    entries(r.out).map((e) => e.uid),
    [100001, 65534],
  );
});

test('bad stream data: checksum and truncation are errors; a missing end marker and trailing bytes are warnings', () => {
  const archive = buildArchive(sample, 'ustar');
  const corrupt = Buffer.from(archive);
  corrupt[3] ^= 1;
  assert.throws(
    () => shift(corrupt, { map: SHIFT }),
    (e: FsidmapError) => e.code === 'ERR_TAR_BAD_HEADER' && e.context.offset === 0,
  );
  assert.throws(
    () => shift(archive.subarray(0, 1536 + 100), { map: SHIFT }),
    (e: FsidmapError) => e.code === 'ERR_TAR_TRUNCATED',
  );
  assert.throws(
    () => shift(archive.subarray(0, 700), { map: SHIFT }),
    (e: FsidmapError) => e.code === 'ERR_TAR_TRUNCATED',
  );
  const noEnd = shift(archive.subarray(0, archive.length - 1024), { map: SHIFT });
  assert.deepEqual(
    noEnd.warnings.map((w) => w.code),
    ['TAR_NO_END_MARKER'],
  );
  const trailing = shift(Buffer.concat([archive, Buffer.from('garbage')]), { map: SHIFT });
  assert.deepEqual(
    trailing.warnings.map((w) => w.code),
    ['TAR_TRAILING_DATA'],
  );
  assert.ok(trailing.out.subarray(trailing.out.length - 7).equals(Buffer.from('garbage')), 'passed through');
});

const entryArb = fc.record({
  name: fc.stringMatching(/^[a-z]{1,12}$/),
  uid: fc.integer({ min: 0, max: 65535 }),
  gid: fc.integer({ min: 0, max: 65535 }),
  size: fc.integer({ min: 0, max: 3000 }),
  pax: fc.boolean(),
  long: fc.boolean(),
});

test('property: the output does not depend on how the input is cut into chunks', () => {
  fc.assert(
    fc.property(
      fc.array(entryArb, { minLength: 1, maxLength: 6 }),
      fc.constantFrom('ustar', 'gnu') as fc.Arbitrary<'ustar' | 'gnu'>,
      fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 1, maxLength: 8 }),
      fc.constantFrom(100000, 3000000),
      (list, format, sizes, base) => {
        const archive = buildArchive(
          list.map((e, i) => ({
            path: `${e.long && format === 'gnu' ? 'x'.repeat(120) : ''}${e.name}${i}`,
            uid: e.uid,
            gid: e.gid,
            data: Buffer.alloc(e.size, i + 1),
            longName: e.long && format === 'gnu',
            ...(e.pax
              ? {
                  pax: [
                    ['mtime', '1700000000.5'],
                    ['uid', String(e.uid)],
                  ] as Array<[string, string]>,
                }
              : {}),
          })),
          format,
        );
        const map = parseMap(`0 ${base} 65536\n`);
        const whole = shift(archive, { map }).out;
        const cut = shift(archive, { map }, sizes).out;
        assert.ok(cut.equals(whole));
        assert.deepEqual(
          entries(whole).map((e) => [e.path, e.uid, e.gid, e.size]),
          entries(archive).map((e) => [e.path, e.uid + base, e.gid + base, e.size]),
        );
      },
    ),
    { numRuns: 150 },
  );
});
