import assert from 'node:assert/strict';
import { test } from 'node:test';
import { END_OF_ARCHIVE, encodeEntryHeaders, paddingFor } from './entry-encode.js';
import { TarEntryParser, type TarEntry } from './entry-parser.js';

/** What encodeEntryHeaders writes, read back by the project's own parser: every field survives, PAX only where ustar cannot hold it. */
function roundTrip(parts: Buffer[]): TarEntry[] {
  const p = new TarEntryParser(() => assert.fail('no warnings expected'));
  const out: TarEntry[] = [];
  for (const ev of p.push(Buffer.concat([...parts, END_OF_ARCHIVE]))) if (ev.kind === 'entry') out.push(ev.entry);
  p.end();
  return out;
}

test('plain entries fit ustar: no PAX header', () => {
  const h = encodeEntryHeaders({ path: 'etc/hello', type: 'file', mode: 0o4755, uid: 5, gid: 6, size: 3, mtime: 1700000000 });
  assert.equal(h.length, 512);
  const [e] = roundTrip([h, Buffer.from('hi\n'), paddingFor(3)]);
  assert.deepEqual([e.path, e.type, e.mode, e.uid, e.gid, e.size, e.mtime], ['etc/hello', 'file', 0o4755, 5, 6, 3, 1700000000]);
});

test('long paths and link targets, big ids and xattrs go to PAX records', () => {
  const long = `${'d'.repeat(90)}/${'é'.repeat(40)}`;
  const parts = [
    encodeEntryHeaders({
      path: long,
      type: 'symlink',
      mode: 0o777,
      uid: 3000000,
      gid: 70000,
      size: 0,
      mtime: 1,
      linkpath: 'x'.repeat(150),
      xattrs: [['user.note', Buffer.from([0, 1, 2])]],
    }),
    encodeEntryHeaders({ path: 'dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, size: 0, mtime: 1, devmajor: 1, devminor: 3 }),
    encodeEntryHeaders({ path: 'dir', type: 'dir', mode: 0o1777, uid: 0, gid: 0, size: 0, mtime: 1 }),
  ];
  const [s, c, d] = roundTrip(parts);
  assert.equal(s.path, long);
  assert.equal(s.linkpath, 'x'.repeat(150));
  assert.equal(s.uid, 3000000);
  assert.equal(s.gid, 70000);
  assert.deepEqual(s.xattrs.get('user.note'), Buffer.from([0, 1, 2]));
  assert.deepEqual([c.type, c.devmajor, c.devminor], ['char', 1, 3]);
  assert.deepEqual([d.type, d.path, d.mode], ['dir', 'dir', 0o1777]);
});
