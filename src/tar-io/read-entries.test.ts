import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildArchive } from '../../test/support/tar-builder.js';
import type { ImageEntry } from '../ownership/entry.js';
import { readTarEntries } from './read-entries.js';

test('readTarEntries: plain and gzip archives give the same ImageEntry list, with ACL ids and capability root', async () => {
  const acl = Buffer.alloc(4 + 8 * 3);
  acl.writeUInt32LE(2, 0);
  [
    [1, 7, 0xffffffff],
    [2, 5, 1234],
    [8, 4, 2345],
  ].forEach(([t, p, id], i) => {
    acl.writeUInt16LE(t, 4 + 8 * i);
    acl.writeUInt16LE(p, 6 + 8 * i);
    acl.writeUInt32LE(id, 8 + 8 * i);
  });
  const cap = Buffer.alloc(24);
  cap.writeUInt32LE(0x03000001, 0);
  cap.writeUInt32LE(5000, 20);
  const archive = buildArchive([
    { path: './dir/', type: 'dir', uid: 0, gid: 0, mode: 0o755 },
    { path: './dir/su', uid: 0, gid: 0, mode: 0o4755, data: Buffer.from('x'), pax: [['SCHILY.xattr.security.capability', cap]] },
    {
      path: './dir/acl',
      uid: 7,
      gid: 8,
      pax: [
        ['SCHILY.acl.access', 'user::rwx\nuser:99:r--\ngroup::r--\n'],
        ['SCHILY.xattr.system.posix_acl_access', acl],
      ],
    },
    { path: './dir/textacl', uid: 7, gid: 8, pax: [['SCHILY.acl.access', 'user::rwx\nuser:99:r--\nuser:daemon:r--\ngroup:55:r--\n']] },
    { path: './dir/hard', type: 'hardlink', uid: 0, gid: 0, linkname: './dir/su' },
    { path: './dir/sym', type: 'symlink', uid: 0, gid: 0, linkname: '../elsewhere' },
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'fsidmap-read-entries-'));
  try {
    writeFileSync(join(dir, 'a.tar'), archive);
    writeFileSync(join(dir, 'a.tgz'), gzipSync(archive));
    const collect = async (p: string): Promise<ImageEntry[]> => {
      const out: ImageEntry[] = [];
      for await (const e of readTarEntries(p)) out.push(e);
      return out;
    };
    const plain = await collect(join(dir, 'a.tar'));
    assert.deepEqual(await collect(join(dir, 'a.tgz')), plain);
    assert.deepEqual(
      plain.map((e) => [e.path, e.type, e.uid, e.gid, e.mode.toString(8)]),
      [
        ['dir', 'dir', 0, 0, '755'],
        ['dir/su', 'file', 0, 0, '4755'],
        ['dir/acl', 'file', 7, 8, '644'],
        ['dir/textacl', 'file', 7, 8, '644'],
        ['dir/hard', 'hardlink', 0, 0, '644'],
        ['dir/sym', 'symlink', 0, 0, '644'],
      ],
    );
    assert.deepEqual([plain[1].hasCapability, plain[1].capRootId], [true, 5000]);
    assert.deepEqual([plain[2].aclUids, plain[2].aclGids], [[1234], [2345]], 'binary ACL wins over the text');
    assert.deepEqual([plain[3].aclUids, plain[3].aclGids], [[99], [55]], 'text ACL: numeric entries only');
    assert.equal(plain[4].linkTarget, 'dir/su');
    assert.equal(plain[5].linkTarget, '../elsewhere');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
