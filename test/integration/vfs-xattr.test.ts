import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { POSIX_ACL_ACCESS } from '../../src/ownership/xattr-codec.js';
import { getXattr, getXattrLenient, setXattr } from '../../src/kernel/file/xattr.js';
import { decodeAclXattr, encodeAclXattr } from '../../src/vfs/acl-xattr.js';

/**
 * The two read semantics of src/kernel/file/xattr.ts against the real kernel:
 * getXattr (the tree shifter's) reads only ENODATA as "none"; getXattrLenient
 * (explain's walk) also reads a filesystem without xattrs (procfs answers
 * EOPNOTSUPP) and a vanished path as "none". Other failures throw in both.
 */

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'fsidmap-vfs-xattr-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('getXattrLenient: reads back the access ACL setXattr wrote, as the explain walk decodes it', () => {
  withDir((dir) => {
    const f = join(dir, 'f');
    writeFileSync(f, '');
    const acl = { users: [{ id: 300005, perm: 6 }], groups: [{ id: 300042, perm: 4 }], groupObj: 5 };
    setXattr(f, POSIX_ACL_ACCESS, encodeAclXattr(acl, 0o640));
    const raw = getXattrLenient(f, POSIX_ACL_ACCESS);
    assert.ok(raw !== null);
    assert.deepEqual(decodeAclXattr(raw), { acl, mask: 4 });
    assert.ok(raw.equals(getXattr(f, POSIX_ACL_ACCESS)!), 'both reads give the same bytes');
  });
});

test('getXattr vs getXattrLenient: which failures read as none and which throw', () => {
  withDir((dir) => {
    const f = join(dir, 'plain');
    writeFileSync(f, '');
    const cases: Array<{ what: string; path: string; strict: null | string; lenient: null | string }> = [
      { what: 'no such xattr (ENODATA)', path: f, strict: null, lenient: null },
      {
        what: 'filesystem without xattrs (procfs: EOPNOTSUPP)',
        path: '/proc/self/status',
        strict: 'ERR_SYSCALL_EOPNOTSUPP',
        lenient: null,
      },
      { what: 'vanished path (ENOENT)', path: join(dir, 'gone'), strict: 'ERR_SYSCALL_ENOENT', lenient: null },
      { what: 'a file used as a directory (ENOTDIR)', path: join(f, 'x'), strict: 'ERR_SYSCALL_ENOTDIR', lenient: 'ERR_SYSCALL_ENOTDIR' },
    ];
    for (const c of cases) {
      for (const [read, want] of [
        [getXattr, c.strict],
        [getXattrLenient, c.lenient],
      ] as const) {
        if (want === null) assert.equal(read(c.path, POSIX_ACL_ACCESS), null, `${read.name}: ${c.what}`);
        else assert.throws(() => read(c.path, POSIX_ACL_ACCESS), { code: want }, `${read.name}: ${c.what}`);
      }
    }
  });
});

test('setXattr: a filesystem without xattrs is refused with EOPNOTSUPP and a hint', () => {
  assert.throws(
    () => setXattr('/proc/self/status', 'user.fsidmap-test', Buffer.from('v')),
    (e: Error & { code?: string; hint?: string }) => {
      assert.equal(e.code, 'ERR_SYSCALL_EOPNOTSUPP');
      assert.ok(typeof e.hint === 'string' && e.hint.length > 0);
      return true;
    },
  );
});
