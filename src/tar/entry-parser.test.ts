import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { FsidmapError } from '../errors.js';
import { buildArchive, buildEntry, buildGlobal } from '../../test/support/tar-builder.js';
import { type TarEntry, TarEntryParser } from './entry-parser.js';
import { TYPE, encodeHeader, recomputeChecksum, writeStringField } from './header.js';
import { encodeOctal } from './large-numbers.js';
import { encodePax, paxRecord } from './pax.js';

type Read = TarEntry & { data: string };

function read(archive: Buffer, sizes: number[] = [archive.length]): Read[] {
  const parser = new TarEntryParser(() => undefined);
  const out: Read[] = [];
  let at = 0;
  for (let i = 0; at < archive.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]);
    for (const ev of parser.push(archive.subarray(at, at + n))) {
      if (ev.kind === 'entry') out.push({ ...ev.entry, data: '' });
      else if (ev.kind === 'data') out[out.length - 1].data += ev.bytes.toString('latin1');
    }
    at += n;
  }
  parser.end();
  return out;
}

function pad(b: Buffer): Buffer {
  return Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
}

test('GNU long names and long link targets, PAX path/linkpath, and global records apply to the next entries', () => {
  const longName = 'a/'.repeat(80) + 'file';
  const archive = Buffer.concat([
    buildGlobal([['uid', '4242']]),
    buildEntry({ path: longName, uid: 1, gid: 2, data: Buffer.from('x'), longName: true }, 'gnu'),
    buildEntry(
      {
        path: 'short',
        uid: 3,
        gid: 4,
        pax: [
          ['path', 'from/pax'],
          ['uid', '77'],
          ['SCHILY.xattr.user.k', 'v'],
        ],
      },
      'ustar',
    ),
    buildEntry({ path: 'later', uid: 5, gid: 6 }, 'ustar'),
    Buffer.alloc(1024),
  ]);
  const [a, b, c] = read(archive);
  assert.deepEqual([a.path, a.uid, a.gid, a.data], [longName, 4242, 2, 'x']);
  assert.deepEqual([b.path, b.uid, b.gid, b.xattrs.get('user.k')?.toString()], ['from/pax', 77, 4, 'v']);
  assert.deepEqual([c.path, c.uid], ['later', 4242], 'the global uid still applies; the local one did not leak');
});

test('old GNU sparse header with an extension block: the map and the real size', () => {
  const h = encodeHeader({ name: 'sparse', typeflag: TYPE.gnuSparse, size: 8, format: 'gnu' });
  // 4 map entries in the header at 386, then "more follow" at 482 and the real size at 483.
  const entries: Array<[number, number]> = [
    [0, 2],
    [1000, 2],
    [2000, 1],
    [3000, 1],
  ];
  entries.forEach(([o, n], i) => {
    encodeOctal(h, 386 + i * 24, 12, o);
    encodeOctal(h, 398 + i * 24, 12, n);
  });
  h[482] = 1;
  encodeOctal(h, 483, 12, 5000);
  recomputeChecksum(h);
  const ext = new Uint8Array(512);
  encodeOctal(ext, 0, 12, 4000);
  encodeOctal(ext, 12, 12, 2);
  const archive = Buffer.concat([Buffer.from(h), Buffer.from(ext), pad(Buffer.from('AABBCDEE')), Buffer.alloc(1024)]);
  const [e] = read(archive);
  assert.equal(e.type, 'file');
  assert.deepEqual(e.sparse, {
    realSize: 5000,
    segments: [
      { offset: 0, length: 2 },
      { offset: 1000, length: 2 },
      { offset: 2000, length: 1 },
      { offset: 3000, length: 1 },
      { offset: 4000, length: 2 },
    ],
  });
  assert.equal(e.data, 'AABBCDEE');
});

test('PAX sparse 1.0: the map at the start of the data is taken off, the real name and size come from the records', () => {
  const map = pad(Buffer.from('2\n0\n5\n100\n3\n'));
  const data = Buffer.concat([map, Buffer.from('AAAAABBB')]);
  const pax = encodePax([
    paxRecord('GNU.sparse.major', '1'),
    paxRecord('GNU.sparse.minor', '0'),
    paxRecord('GNU.sparse.name', 'real/name'),
    paxRecord('GNU.sparse.realsize', '103'),
  ]);
  const h = encodeHeader({ name: './GNUSparseFile.1/name', typeflag: TYPE.file, size: data.length, format: 'ustar' });
  const archive = Buffer.concat([
    Buffer.from(encodeHeader({ name: 'PaxHeaders/name', typeflag: TYPE.paxLocal, size: pax.length, format: 'ustar' })),
    pad(pax),
    Buffer.from(h),
    pad(data),
    Buffer.alloc(1024),
  ]);
  for (const sizes of [[archive.length], [1], [7, 500, 13]]) {
    const [e] = read(archive, sizes);
    assert.equal(e.path, 'real/name');
    assert.deepEqual(e.sparse, {
      realSize: 103,
      segments: [
        { offset: 0, length: 5 },
        { offset: 100, length: 3 },
      ],
    });
    assert.equal(e.data, 'AAAAABBB');
    assert.equal(e.size, 8);
  }
});

test('v7: a regular-file entry whose name ends in "/" is a directory', () => {
  const h = encodeHeader({ name: 'olddir/', typeflag: TYPE.file, size: 0, format: 'v7' });
  writeStringField(h, 'name', 'olddir/');
  recomputeChecksum(h);
  const [e] = read(Buffer.concat([Buffer.from(h), Buffer.alloc(1024)]));
  assert.deepEqual([e.type, e.path], ['dir', 'olddir']);
});

test('a member cut short is ERR_TAR_TRUNCATED', () => {
  const archive = buildArchive([{ path: 'f', uid: 0, gid: 0, data: Buffer.alloc(2000) }]);
  assert.throws(
    () => read(archive.subarray(0, 1500)),
    (e: FsidmapError) => e.code === 'ERR_TAR_TRUNCATED',
  );
});

test('property: entries and data do not depend on how the input is cut', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ size: fc.integer({ min: 0, max: 2000 }), pax: fc.boolean() }), { minLength: 1, maxLength: 5 }),
      fc.array(fc.integer({ min: 1, max: 1100 }), { minLength: 1, maxLength: 6 }),
      (list, sizes) => {
        const archive = buildArchive(
          list.map((e, i) => ({
            path: `f${i}`,
            uid: i,
            gid: i,
            data: Buffer.alloc(e.size, 65 + i),
            ...(e.pax ? { pax: [['path', `long/${i}`]] as Array<[string, string]> } : {}),
          })),
        );
        const whole = read(archive).map((e) => [e.path, e.uid, e.data]);
        assert.deepEqual(
          read(archive, sizes).map((e) => [e.path, e.uid, e.data]),
          whole,
        );
        assert.deepEqual(
          whole.map((e) => (e[2] as string).length),
          list.map((e) => e.size),
        );
      },
    ),
    { numRuns: 100 },
  );
});
