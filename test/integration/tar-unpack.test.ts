import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildArchive } from '../support/tar-builder.js';
import {
  CLI,
  TAR_CREATE,
  cleanup,
  extract,
  fsidmap,
  have,
  isRoot,
  makeTree,
  run,
  snapshot,
  tempRoot,
  type TreeFeatures,
} from '../support/tar-fixtures.js';

/**
 * `fsidmap tar unpack` against GNU tar: unpacking an archive with MAP must
 * give the tree GNU tar extracts (as root, --numeric-owner --same-owner -p
 * --acls --xattrs) from the archive `fsidmap tar shift` made — owners, modes
 * with setuid/setgid, times, data, hard links, symlinks, devices, fifos,
 * sparse holes, ACLs and capabilities — and the same from inside a user
 * namespace, where the kernel applies the namespace's map.
 */
const OFFSET = 100000;
const MAP = `0:${OFFSET}:10000000`;

const skip = !isRoot
  ? 'needs root (chown, mknod, setcap, user namespaces with any map)'
  : !have('setfacl') || !have('setcap')
    ? 'setfacl/setcap missing (Debian packages acl, libcap2-bin)'
    : false;

const FORMATS: Array<{ format: 'ustar' | 'gnu' | 'posix'; features: TreeFeatures; create: string[] }> = [
  { format: 'ustar', features: {}, create: [] },
  { format: 'gnu', features: { longNames: true, bigIds: true, sparse: true }, create: ['--sparse'] },
  {
    format: 'posix',
    features: { longNames: true, bigIds: true, sparse: true, acls: true, caps: true },
    create: ['--sparse', '--acls', '--xattrs', '--xattrs-include=*'],
  },
];

describe('tar unpack: differential tests against GNU tar', { skip }, () => {
  let root = '';
  before(() => {
    root = tempRoot('fsidmap-tar-unpack');
  });
  after(() => cleanup(root));

  for (const { format, features, create } of FORMATS) {
    test(`${format}: unpack MAP gives the tree GNU tar extracts from the shifted archive`, () => {
      const p = (name: string): string => join(root, format, name);
      makeTree(p('tree'), 0, features);
      run('tar', [`--format=${format}`, ...create, ...TAR_CREATE, '-cf', p('in.tar'), '-C', p('tree'), '.']);
      const shifted = fsidmap(['tar', 'shift', MAP, '-i', p('in.tar'), '-o', p('fs.tar')]);
      assert.equal(shifted.status, 0, shifted.stderr);
      extract(p('fs.tar'), p('x-gnutar'));
      const r = fsidmap(['tar', 'unpack', MAP, p('in.tar'), p('x-unpack'), '--json']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '', 'no warnings');
      const summary = JSON.parse(r.stdout.toString('utf8'));
      assert.equal(summary.hardlinks, 1);
      assert.equal(summary.fifos, 1);
      assert.equal(summary.devices, 1);
      const got = snapshot(p('x-unpack'));
      const want = snapshot(p('x-gnutar'));
      assert.deepEqual(got.entries, want.entries);
      assert.deepEqual(got.acls, want.acls);
      assert.equal(got.caps, want.caps);
      assert.deepEqual(got.sparse, want.sparse);
      assert.match(got.entries.join('\n'), new RegExp(`usr/bin/su f 4755 ${OFFSET}:${OFFSET}`), 'setuid kept after chown');
    });
  }

  test('gzip input, and unpacking again over a finished unpack changes nothing', () => {
    const p = (name: string): string => join(root, 'posix', name);
    run('sh', ['-c', 'gzip -c < "$1" > "$2"', 'sh', p('in.tar'), p('in.tar.gz')]);
    const r = fsidmap(['tar', 'unpack', MAP, p('in.tar.gz'), p('x-unpack')]);
    assert.equal(r.status, 0, r.stderr);
    const again = snapshot(p('x-unpack'));
    const want = snapshot(p('x-gnutar'));
    assert.deepEqual(again.entries, want.entries);
    assert.deepEqual(again.acls, want.acls);
    assert.equal(again.caps, want.caps);
  });

  test('entries that would leave DIR are skipped with TAR_UNSAFE_PATH; nothing is written outside', () => {
    const dir = join(root, 'unsafe');
    const outside = join(root, 'outside');
    mkdirSync(outside, { mode: 0o755 });
    writeFileSync(join(outside, 'secret'), 'outside');
    const archive = buildArchive(
      [
        { path: '../escaped', uid: 0, gid: 0, data: Buffer.from('no') },
        { path: 'link', type: 'symlink', uid: 0, gid: 0, linkname: outside },
        { path: 'link/through-symlink', uid: 0, gid: 0, data: Buffer.from('no') },
        { path: 'hard', type: 'hardlink', uid: 0, gid: 0, linkname: '../../etc/passwd' },
        { path: 'hard-through-link', type: 'hardlink', uid: 0, gid: 0, linkname: 'link/secret' },
        { path: 'dir', type: 'dir', uid: 0, gid: 0, mode: 0o700 },
        { path: 'dir', type: 'symlink', uid: 0, gid: 0, linkname: outside },
        { path: 'ok', uid: 1, gid: 1, data: Buffer.from('yes') },
      ],
      'ustar',
    );
    writeFileSync(join(root, 'unsafe.tar'), archive);
    const r = fsidmap(['tar', 'unpack', '0:100000:65536', join(root, 'unsafe.tar'), dir, '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal((r.stderr.match(/TAR_UNSAFE_PATH/g) ?? []).length, 4);
    assert.equal(JSON.parse(r.stdout.toString()).skipped, 4);
    assert.equal(existsSync(join(dir, 'hard-through-link')), false);
    assert.equal(
      (statSync(outside).mode & 0o777).toString(8),
      '755',
      'the directory replaced by a symlink kept its mode: the delayed chmod did not follow the symlink',
    );
    assert.equal(existsSync(join(root, 'escaped')), false);
    assert.equal(existsSync(join(outside, 'through-symlink')), false);
    assert.equal(existsSync(join(dir, 'hard')), false);
    assert.equal(readFileSync(join(dir, 'ok'), 'utf8'), 'yes');
    assert.equal(readlinkSync(join(dir, 'link')), outside);
    const strict = fsidmap(['tar', 'unpack', '0:100000:65536', join(root, 'unsafe.tar'), join(root, 'unsafe-strict'), '--strict']);
    assert.equal(strict.status, 1);
    assert.match(strict.stderr, /TAR_UNSAFE_PATH/);
  });

  test('inside a user namespace (map 0 100000 65536), unpack with the identity map lands on the shifted ids; devices are skipped', async () => {
    const p = (name: string): string => join(root, 'userns', name);
    // Every id of this tree fits the namespace's 65536 ids.
    makeTree(p('tree'), 0, { longNames: true, sparse: true, acls: true, caps: true });
    run('tar', [
      '--format=posix',
      '--sparse',
      '--acls',
      '--xattrs',
      '--xattrs-include=*',
      ...TAR_CREATE,
      '-cf',
      p('in.tar'),
      '-C',
      p('tree'),
      '.',
    ]);
    assert.equal(fsidmap(['tar', 'shift', '0:100000:65536', '-i', p('in.tar'), '-o', p('fs.tar')]).status, 0);
    extract(p('fs.tar'), p('x-gnutar'));
    const target = p('x-userns');
    mkdirSync(target);
    chownSync(target, OFFSET, OFFSET);
    // A holder process in a fresh user namespace; root in the initial namespace writes its maps.
    const holder = spawn('unshare', ['--user', '--', 'sleep', '600'], { stdio: 'ignore' });
    let summary: Record<string, number>;
    try {
      const pid = holder.pid!;
      const ours = readlinkSync('/proc/self/ns/user');
      for (let i = 0; i < 300 && readlinkSync(`/proc/${pid}/ns/user`) === ours; i++) await new Promise((r) => setTimeout(r, 10));
      writeFileSync(`/proc/${pid}/uid_map`, `0 ${OFFSET} 65536\n`);
      writeFileSync(`/proc/${pid}/gid_map`, `0 ${OFFSET} 65536\n`);
      const out = run('nsenter', [
        '--user',
        `--target=${pid}`,
        '--setuid=0',
        '--setgid=0',
        '--',
        process.execPath,
        CLI,
        'tar',
        'unpack',
        '0:0:65536',
        p('in.tar'),
        target,
        '--json',
      ]);
      summary = JSON.parse(out.toString('utf8'));
    } finally {
      holder.kill('SIGKILL');
    }
    assert.equal(summary.devices, 0);
    assert.equal(summary.skipped, 1, 'tmp/null cannot be created in a user namespace');
    const got = snapshot(target);
    const want = snapshot(p('x-gnutar'));
    assert.deepEqual(
      got.entries,
      want.entries.filter((e) => !e.startsWith('tmp/null ')),
    );
    assert.deepEqual(
      got.acls,
      want.acls.filter((b) => !b.startsWith('# file: ./tmp/null\n')),
    );
    assert.deepEqual(got.sparse, want.sparse);
    // The kernel namespaces a v2 capability written inside a user namespace (v3, rootid = the namespace's root),
    // and tar shift writes that same v3 value: both ways give the same capabilities.
    assert.match(got.caps, new RegExp(`cap-v2 cap_net_raw=ep \\[rootid=${OFFSET}\\]`));
    assert.equal(got.caps, want.caps);
  });
});
