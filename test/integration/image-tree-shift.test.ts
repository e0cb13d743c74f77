import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseMap } from '../../src/idmap/index.js';
import { type TreeEngineKind, shiftTree } from '../../src/tree/index.js';
import { decodeCap } from '../../src/ownership/xattr-codec.js';
import { getXattr, listXattrs, setXattr } from '../../src/kernel/file/xattr.js';
import { diffSnapshots, expectedShift as expected, makeFixture, type Snap, snapshot } from './tree-fixture.js';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (chown, mknod, security.capability)';
const work = mkdtempSync(join(tmpdir(), 'fsidmap-i7tree-'));
const stateDir = join(work, 'state');
after(() => {
  for (const m of mountsUnder(work)) execFileSync('umount', ['-l', m]);
  rmSync(work, { recursive: true, force: true });
});

const MAP = parseMap('0 100000 65536\n');
const fresh = (engine: TreeEngineKind, name: string) => join(work, `${engine}-${name}`);

function mountsUnder(dir: string): string[] {
  const text = execFileSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' });
  return text
    .split('\n')
    .filter((m) => m.startsWith(dir + '/'))
    .sort()
    .reverse();
}

/**
 * Every test runs with both engines: the C one (native/libfsidmap-tree.c, the
 * default when built) and the TypeScript one (the fallback). They must give
 * the same trees; image-tree-engines.test.ts compares them directly.
 */
for (const engine of ['native', 'node'] as const) {
  test(
    `[${engine}] shift: owners, setuid/setgid bits, ACL ids and v3 root ids move through MAP, v2 caps are scoped to MAP(0); links and modes stay`,
    { skip },
    async () => {
      const dir = fresh(engine, 'basic');
      makeFixture(dir, { files: 1500, base: 0, seed: 11, capRootIds: [0, 1000] });
      const before = snapshot(dir);
      const kinds = [...before.values()];
      assert.ok(
        kinds.some((s) => s.mode & 0o4000) && kinds.some((s) => s.aclAccess) && kinds.some((s) => s.aclDefault) && kinds.some((s) => s.cap),
        'fixture has every feature',
      );
      assert.ok(
        kinds.some((s) => s.nlink > 1) &&
          kinds.some((s) => s.type === 'symlink') &&
          kinds.some((s) => s.type === 'fifo') &&
          kinds.some((s) => s.type === 'char'),
      );
      const r = await shiftTree(dir, MAP, { stateDir, engine });
      const afterSnap = snapshot(dir);
      assert.deepEqual(
        diffSnapshots(
          afterSnap,
          expected(before, (id) => id + 100000),
        ),
        [],
      );
      assert.equal(r.stats.owner, before.size - r.stats.hardLinks);
      assert.ok(r.stats.mode > 0 && r.stats.capability > 0 && r.stats.aclAccess > 0 && r.stats.aclDefault > 0);
      assert.deepEqual(
        readdirSync(join(stateDir, 'shift')).filter((f) => f.endsWith('.journal') || f.endsWith('.progress')),
        [],
        'journal removed after success',
      );
      // The same command again finds the tree as this shift left it and does nothing.
      const again = await shiftTree(dir, MAP, { stateDir, engine });
      assert.equal(again.alreadyDone, true);
      assert.deepEqual(diffSnapshots(snapshot(dir), afterSnap), []);
      // The real tools agree on one setfacl'ed file and one v3 capability.
      const aclFile = [...afterSnap].find(([, s]) => s.aclAccess && s.type === 'file')?.[0] as string;
      assert.match(execFileSync('getfacl', ['-n', '-p', join(dir, aclFile)], { encoding: 'utf8' }), /user:10100[0-2]:rwx/);
      const wasV3 = (s: Snap | undefined) => !!s?.cap && decodeCap(Buffer.from(s.cap, 'hex')).revision === 3;
      const v3 = [...afterSnap].filter(([k]) => wasV3(before.get(k))).map(([k]) => k);
      assert.ok(v3.length > 0);
      assert.match(execFileSync('getcap', ['-n', join(dir, v3[0])], { encoding: 'utf8' }), /rootid=101000/);
    },
  );

  test(`[${engine}] shift then --reverse gives back the tree exactly`, { skip }, async () => {
    const dir = fresh(engine, 'roundtrip');
    makeFixture(dir, { files: 800, base: 0, seed: 12, capRootIds: [0, 1000] });
    const before = snapshot(dir);
    await shiftTree(dir, MAP, { stateDir, engine });
    assert.notDeepEqual(diffSnapshots(snapshot(dir), before), []);
    await shiftTree(dir, MAP, { stateDir, engine, reverse: true });
    assert.deepEqual(diffSnapshots(snapshot(dir), before), []);
  });

  test(`[${engine}] shift: a map whose source and target overlap moves every inode once, hard links included`, { skip }, async () => {
    const dir = fresh(engine, 'overlap');
    makeFixture(dir, { files: 600, base: 0, seed: 13 });
    const before = snapshot(dir);
    assert.ok([...before.values()].some((s) => s.nlink > 1));
    // With worker threads: the same result.
    await shiftTree(dir, parseMap('0 1000 65536\n'), { stateDir, engine, workers: 2 });
    assert.deepEqual(
      diffSnapshots(
        snapshot(dir),
        expected(before, (id) => id + 1000),
      ),
      [],
    );
  });

  test(`[${engine}] shift: ids MAP does not cover are listed and nothing changes`, { skip }, async () => {
    const dir = fresh(engine, 'unmapped');
    makeFixture(dir, { files: 300, base: 0, seed: 14, strayUids: [70000, 70001, 90000] });
    execFileSync('setfacl', ['-m', 'g:80000:r', join(dir, 'd0')]);
    const before = snapshot(dir);
    await assert.rejects(
      shiftTree(dir, MAP, { stateDir, engine }),
      (e: { code: string; context: { unmapped: Array<{ kind: string; start: number; end: number; where: string }> } }) => {
        assert.equal(e.code, 'ERR_SHIFT_UNMAPPED');
        assert.deepEqual(
          e.context.unmapped.map((u) => [u.kind, u.start, u.end, u.where]),
          [
            ['uid', 70000, 70002, 'owner'],
            ['uid', 90000, 90001, 'owner'],
            ['gid', 80000, 80001, 'acl'],
          ],
        );
        return true;
      },
    );
    assert.deepEqual(diffSnapshots(snapshot(dir), before), []);
    // --unmapped keep leaves them; --unmapped ID sets them.
    await shiftTree(dir, MAP, { stateDir, engine, unmapped: { kind: 'keep' } });
    const kept = snapshot(dir);
    assert.equal([...kept.values()].filter((s) => s.uid === 70000 || s.uid === 70001 || s.uid === 90000).length, 3);
    assert.match(execFileSync('getfacl', ['-n', '-p', join(dir, 'd0')], { encoding: 'utf8' }), /group:80000:r--/);
    const dir2 = fresh(engine, 'unmapped2');
    makeFixture(dir2, { files: 100, base: 0, seed: 14, strayUids: [70000] });
    await shiftTree(dir2, MAP, { stateDir, engine, unmapped: { kind: 'overflow', id: 65534 } });
    assert.equal([...snapshot(dir2).values()].filter((s) => s.uid === 65534).length, 1);
  });

  test(`[${engine}] shift: symlinks are lchown\'ed themselves, never their targets`, { skip }, async () => {
    const dir = fresh(engine, 'symlinks');
    mkdirSync(dir);
    const outside = fresh(engine, 'outside-target');
    writeFileSync(outside, 'x');
    lchownSync(outside, 5, 5);
    execFileSync('ln', ['-s', outside, join(dir, 'abs')]);
    lchownSync(join(dir, 'abs'), 7, 7);
    await shiftTree(dir, MAP, { stateDir, engine });
    const s = snapshot(dir).get('abs') as Snap;
    assert.deepEqual([s.uid, s.gid], [100007, 100007]);
    assert.equal(lstatSync(outside).uid, 5);
  });

  test(
    `[${engine}] shift: other mounts below the tree (a bind-mounted file too) are left alone unless crossFilesystems`,
    { skip },
    async () => {
      const dir = fresh(engine, 'mounts');
      makeFixture(dir, { files: 50, base: 0, seed: 15 });
      const mnt = join(dir, 'mnt');
      mkdirSync(mnt);
      // A file of another tree bind-mounted over a file of this one: chowning the name would chown that file.
      const source = fresh(engine, 'bind-source');
      writeFileSync(source, 'x');
      lchownSync(source, 4, 4);
      const target = join(dir, 'bound');
      writeFileSync(target, '');
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'fsidmap-i7tree', mnt]);
      execFileSync('mount', ['--bind', source, target]);
      try {
        writeFileSync(join(mnt, 'inner'), 'x');
        lchownSync(join(mnt, 'inner'), 3, 3);
        const r = await shiftTree(dir, MAP, { stateDir, engine });
        assert.deepEqual([...r.skippedMounts].sort(), ['bound', 'mnt']);
        assert.equal(snapshot(mnt).get('inner')?.uid, 3);
        assert.equal(snapshot(mnt).get('')?.uid, 0, 'the mount root belongs to the other filesystem');
        assert.equal(lstatSync(source).uid, 4, 'the bind-mounted file was not touched');
        await shiftTree(dir, MAP, { stateDir, engine, reverse: true });
        await shiftTree(dir, MAP, { stateDir, engine, crossFilesystems: true });
        assert.equal(snapshot(mnt).get('inner')?.uid, 100003);
        assert.equal(lstatSync(source).uid, 100004, 'crossing mounts reaches it');
      } finally {
        execFileSync('umount', [target]);
        execFileSync('umount', [mnt]);
      }
    },
  );

  test(`[${engine}] shift --dry-run reads and plans but changes nothing`, { skip }, async () => {
    const dir = fresh(engine, 'dry');
    makeFixture(dir, { files: 200, base: 0, seed: 16 });
    const before = snapshot(dir);
    const r = await shiftTree(dir, MAP, { stateDir, engine, dryRun: true });
    assert.equal(r.dryRun, true);
    assert.ok(r.stats.owner > 0);
    assert.deepEqual(diffSnapshots(snapshot(dir), before), []);
  });

  test(`[${engine}] shift: file names that are not UTF-8 are shifted by their bytes`, { skip }, async () => {
    const dir = fresh(engine, 'bytes');
    mkdirSync(dir);
    const name = Buffer.concat([Buffer.from(dir + '/caf'), Buffer.from([0xe9, 0xff])]);
    writeFileSync(name, 'x');
    lchownSync(name, 9, 9);
    await shiftTree(dir, MAP, { stateDir, engine });
    assert.ok(existsSync(name));
    assert.equal(lstatSync(name).uid, 100009);
  });

  test(`[${engine}] shift: a tree with nothing to change writes no journal and succeeds`, { skip }, async () => {
    const dir = fresh(engine, 'noop');
    makeFixture(dir, { files: 30, base: 100000, seed: 17 });
    const before = snapshot(dir);
    const r = await shiftTree(dir, parseMap('100000 100000 65536\n'), { stateDir, engine });
    assert.equal(r.stats.owner, 0);
    assert.equal(r.stats.unchanged, before.size - r.stats.hardLinks);
    assert.deepEqual(diffSnapshots(snapshot(dir), before), [], 'setuid bits and capabilities survive: no needless chown');
  });

  test(
    `[${engine}] shift: a file with more than 64 KiB of xattr names (listxattr E2BIG, tmpfs) is shifted, its ACL too`,
    { skip },
    async () => {
      const dir = fresh(engine, 'e2big');
      mkdirSync(dir);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'fsidmap-i7tree', dir]);
      try {
        const f = join(dir, 'many-names');
        writeFileSync(f, '');
        lchownSync(f, 7, 7);
        execFileSync('setfacl', ['-m', 'u:8:rw', f]);
        // 3,000 names of 47 bytes: about 140 KiB of names, more than listxattr can return (XATTR_LIST_MAX).
        for (let i = 0; i < 3000; i++) setXattr(f, `user.${'n'.repeat(40)}${String(i).padStart(4, '0')}`, Buffer.from('v'));
        assert.throws(
          () => listXattrs(f),
          (e: { errno?: number; message: string }) => /E2BIG/.test(e.message),
        );
        const before = snapshot(dir);
        await shiftTree(dir, MAP, { stateDir, engine });
        assert.deepEqual(
          diffSnapshots(
            snapshot(dir),
            expected(before, (id) => id + 100000),
          ),
          [],
        );
        assert.match(execFileSync('getfacl', ['-n', '-p', f], { encoding: 'utf8' }), /user:100008:rw-/);
        assert.deepEqual(getXattr(f, `user.${'n'.repeat(40)}2999`), Buffer.from('v'), 'the other xattrs stay');
      } finally {
        execFileSync('umount', [dir]);
      }
    },
  );

  test(`[${engine}] shift: immutable entries and read-only mounts are refused before any change`, { skip }, async () => {
    const dir = fresh(engine, 'locked');
    makeFixture(dir, { files: 40, base: 0, seed: 18 });
    const victim = [...snapshot(dir)].find(([, s]) => s.type === 'file')?.[0] as string;
    execFileSync('chattr', ['+i', join(dir, victim)]);
    try {
      const before = snapshot(dir);
      await assert.rejects(shiftTree(dir, MAP, { stateDir, engine }), { code: 'ERR_TREE_IMMUTABLE' });
      assert.deepEqual(diffSnapshots(snapshot(dir), before), []);
    } finally {
      execFileSync('chattr', ['-i', join(dir, victim)]);
    }
    const ro = fresh(engine, 'readonly');
    mkdirSync(ro);
    execFileSync('mount', ['--bind', dir, ro]);
    try {
      execFileSync('mount', ['-o', 'remount,bind,ro', ro]);
      await assert.rejects(shiftTree(ro, MAP, { stateDir, engine }), { code: 'ERR_TREE_READ_ONLY' });
    } finally {
      execFileSync('umount', [ro]);
    }
  });
}
