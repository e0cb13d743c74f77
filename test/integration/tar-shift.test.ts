import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildArchive } from '../support/tar-builder.js';
import {
  CLI,
  TAR_CREATE,
  type Snapshot,
  cleanup,
  dataDigest,
  extract,
  fsidmap,
  have,
  isRoot,
  listing,
  makeTree,
  run,
  snapshot,
  tempRoot,
  type TreeFeatures,
} from '../support/tar-fixtures.js';

/**
 * Differential tests of `fsidmap tar shift` against two references:
 *
 * - GNU tar itself: the fixture tree is built twice, once with its ids as
 *   stored and once with every id already shifted; GNU tar's archive of the
 *   second tree is what the shift of the first tree's archive must list and
 *   extract to (owners, modes, data, ACLs, capabilities, sparse holes). GNU
 *   tar decides how it encodes large ids, so this also checks PAX/base-256.
 * - mmtarfilter --idshift (Debian mmdebstrap 1.3.5), the peer: its output
 *   must list and extract the same, except where mmtarfilter is wrong, and
 *   those differences are asserted exactly (see docs/tar.md).
 */
const OFFSET = 100000;
const MAP = `0:${OFFSET}:10000000`;

const FORMATS: Array<{ format: 'ustar' | 'gnu' | 'posix'; features: TreeFeatures; create: string[] }> = [
  { format: 'ustar', features: {}, create: [] },
  { format: 'gnu', features: { longNames: true, bigIds: true, sparse: true }, create: ['--sparse'] },
  {
    format: 'posix',
    features: { longNames: true, bigIds: true, sparse: true, acls: true, caps: true },
    create: ['--sparse', '--acls', '--xattrs', '--xattrs-include=*'],
  },
];

const skip = !isRoot
  ? 'needs root (chown, mknod, setcap, tar --same-owner)'
  : !have('mmtarfilter')
    ? 'mmtarfilter missing (Debian package mmdebstrap; npm test installs it as root)'
    : !have('setfacl') || !have('setcap')
      ? 'setfacl/setcap missing (Debian packages acl, libcap2-bin)'
      : false;

function entriesByPath(s: Snapshot): Map<string, string> {
  return new Map(s.entries.map((e) => [e.split(' ')[0], e]));
}

/** Paths whose snapshot lines differ between two trees. */
function differingPaths(a: Snapshot, b: Snapshot): string[] {
  const ma = entriesByPath(a);
  const mb = entriesByPath(b);
  const paths = new Set([...ma.keys(), ...mb.keys()]);
  return [...paths].filter((p) => ma.get(p) !== mb.get(p)).sort();
}

function diffLines(a: string, b: string): { onlyA: string[]; onlyB: string[] } {
  const la = a.split('\n');
  const lb = b.split('\n');
  return { onlyA: la.filter((l) => !lb.includes(l)), onlyB: lb.filter((l) => !la.includes(l)) };
}

describe('tar shift: differential tests against GNU tar and mmtarfilter', { skip }, () => {
  let root = '';
  before(() => {
    root = tempRoot('fsidmap-tar-shift');
  });
  after(() => cleanup(root));

  for (const { format, features, create } of FORMATS) {
    describe(`${format} archives`, () => {
      const p = (name: string): string => join(root, format, name);
      before(() => {
        makeTree(p('tree'), 0, features);
        makeTree(p('tree-shifted'), OFFSET, features);
        run('tar', [`--format=${format}`, ...create, ...TAR_CREATE, '-cf', p('in.tar'), '-C', p('tree'), '.']);
        run('tar', [`--format=${format}`, ...create, ...TAR_CREATE, '-cf', p('expected.tar'), '-C', p('tree-shifted'), '.']);
        const out = openSync(p('fs.tar'), 'w');
        try {
          const r = fsidmap(['tar', 'shift', MAP], { stdio: [openSync(p('in.tar'), 'r'), out, 'pipe'] });
          assert.equal(r.status, 0, r.stderr);
        } finally {
          closeSync(out);
        }
        run('sh', ['-c', `mmtarfilter --idshift ${OFFSET} < "$1" > "$2"`, 'sh', p('in.tar'), p('mm.tar')]);
        extract(p('fs.tar'), p('x-fs'));
        extract(p('expected.tar'), p('x-expected'));
        // mmtarfilter's posix sparse output makes GNU tar exit 2 (see below): extract what it can.
        run('sh', [
          '-c',
          'tar --numeric-owner --same-owner -p --acls --xattrs --xattrs-include=* -xf "$1" -C "$2" 2>/dev/null; exit 0',
          'sh',
          p('mm.tar'),
          mkdirp(p('x-mm')),
        ]);
      });

      test("lists exactly as GNU tar's own archive of the shifted tree (--numeric-owner -tv, with ACLs)", () => {
        const extra = features.acls ? ['--acls'] : [];
        assert.equal(listing(p('fs.tar'), extra), listing(p('expected.tar'), extra));
        assert.match(listing(p('fs.tar')), new RegExp(`${OFFSET + 1000}/${OFFSET + 1000}`));
      });

      test("extracts to the same tree as GNU tar's own archive: owners, modes, times, data, links, devices, ACLs, capabilities, holes", () => {
        const got = snapshot(p('x-fs'));
        const want = snapshot(p('x-expected'));
        assert.deepEqual(got.entries, want.entries);
        assert.deepEqual(got.acls, want.acls);
        assert.equal(got.caps, want.caps);
        assert.deepEqual(got.sparse, want.sparse);
        if (features.sparse) assert.deepEqual(got.sparse, ['sparse.img']);
        if (features.acls) assert.match(got.acls.join('\n'), new RegExp(`user:${OFFSET + 1234}:rwx`));
        if (features.caps) assert.match(got.caps, new RegExp(`cap-v3 cap_net_bind_service=ep \\[rootid=${OFFSET + 1000}\\]`));
      });

      test("file data bytes are identical to the input's", () => {
        assert.equal(dataDigest(p('fs.tar')), dataDigest(p('in.tar')));
      });

      test('mmtarfilter --idshift lists the same, except the ids it leaves in PAX records (posix, ids > 2097151)', () => {
        // GNU tar exits 2 on mmtarfilter's posix sparse member (see the next test) but lists every member.
        const d = diffLines(listing(p('fs.tar')), listing(p('mm.tar'), [], [0, 2]));
        if (format !== 'posix') {
          assert.deepEqual(d, { onlyA: [], onlyB: [] });
          return;
        }
        // mmtarfilter (Python tarfile) writes an existing PAX uid/gid record back unchanged over the shifted value.
        const owners = (lines: string[]): string[] => lines.map((l) => `${l.split(/\s+/)[1]} ${l.split(/\s+/).pop()}`).sort();
        assert.deepEqual(owners(d.onlyA), [
          `${2097151 + OFFSET}/${2097152 + OFFSET} ./big-dir/`,
          `${3000000 + OFFSET}/${4000000 + OFFSET} ./big-ids`,
        ]);
        // big-dir's uid 2097151 fits the ustar field and is shifted; its gid 2097152 was in a PAX record and is not.
        assert.deepEqual(owners(d.onlyB), [`${2097151 + OFFSET}/2097152 ./big-dir/`, '3000000/4000000 ./big-ids']);
      });

      test('mmtarfilter --idshift extracts the same owners, modes and data, except where it is known to be wrong', () => {
        const fs = snapshot(p('x-fs'));
        const mm = snapshot(p('x-mm'));
        const expectedDiff = format === 'posix' ? ['big-dir', 'big-ids', 'sparse.img'] : [];
        assert.deepEqual(differingPaths(fs, mm), expectedDiff);
        if (format === 'gnu') {
          // Same bytes, but mmtarfilter stores the sparse file expanded: the holes are lost.
          assert.deepEqual(fs.sparse, ['sparse.img']);
          assert.deepEqual(mm.sparse, []);
        }
        if (features.acls) {
          // mmtarfilter does not shift ACL entries nor capability root ids.
          assert.notDeepEqual(fs.acls, mm.acls);
          assert.match(mm.acls.join('\n'), /user:1234:rwx/);
        }
      });
    });
  }

  test('gzip in, gzip out: same listing as the plain shift; --output writes atomically', () => {
    const p = (name: string): string => join(root, 'gnu', name);
    run('sh', ['-c', 'gzip -c < "$1" > "$2"', 'sh', p('in.tar'), p('in.tar.gz')]);
    const r = fsidmap(['tar', 'shift', MAP, '-i', p('in.tar.gz'), '-o', p('out.tar.gz'), '--json']);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout.toString('utf8'));
    assert.equal(summary.input, 'gzip');
    assert.equal(summary.output, 'gzip');
    assert.equal(readFileSync(p('out.tar.gz'))[0], 0x1f);
    assert.equal(listing(p('out.tar.gz')), listing(p('fs.tar')));
    assert.equal(
      run('ls', ['-a', join(root, 'gnu')])
        .toString()
        .includes('.fsidmap-'),
      false,
      'no temporary file left',
    );
  });

  test('an unmapped id stops the shift with exit 1 and leaves no output file', () => {
    const p = (name: string): string => join(root, 'gnu', name);
    const r = fsidmap(['tar', 'shift', '0:100000:65536', '-i', p('in.tar'), '-o', p('refused.tar')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not covered by the map/);
    assert.equal(
      run('ls', ['-a', join(root, 'gnu')])
        .toString()
        .match(/refused|\.fsidmap-/),
      null,
    );
    const kept = fsidmap(['tar', 'shift', '0:100000:65536', '--unmapped', '65534', '-i', p('in.tar'), '-o', p('replaced.tar')]);
    assert.equal(kept.status, 0, kept.stderr);
    assert.match(listing(p('replaced.tar')), /65534\/65534 .* \.\/big-ids/);
  });
});

describe('tar shift: ids that only become larger than 2097151 through the shift', { skip }, () => {
  const BIG = 3000000;
  let root = '';
  before(() => {
    root = tempRoot('fsidmap-tar-bigshift');
    makeTree(join(root, 'tree'), 0, { longNames: false });
    makeTree(join(root, 'tree-shifted'), BIG, { longNames: false });
  });
  after(() => cleanup(root));

  // GNU tar refuses such ids in ustar ("value out of uid_t range"), so its posix archive is the reference there;
  // in GNU format it writes base-256 itself, as fsidmap must.
  for (const [format, reference] of [
    ['ustar', 'posix'],
    ['gnu', 'gnu'],
  ] as const) {
    test(`${format}: ${format === 'ustar' ? 'PAX headers are inserted' : 'base-256 fields are written'}, and GNU tar lists and extracts the shifted ids`, () => {
      const p = (name: string): string => join(root, `${format}-${name}`);
      run('tar', [`--format=${format}`, ...TAR_CREATE, '-cf', p('in.tar'), '-C', join(root, 'tree'), '.']);
      run('tar', [`--format=${reference}`, ...TAR_CREATE, '-cf', p('expected.tar'), '-C', join(root, 'tree-shifted'), '.']);
      const r = fsidmap(['tar', 'shift', `0:${BIG}:100000`, '-i', p('in.tar'), '-o', p('fs.tar'), '--json']);
      assert.equal(r.status, 0, r.stderr);
      const summary = JSON.parse(r.stdout.toString('utf8'));
      assert.equal(summary.paxCreated, format === 'ustar' ? summary.entries : 0);
      assert.equal(listing(p('fs.tar')), listing(p('expected.tar')));
      extract(p('fs.tar'), p('x-fs'));
      extract(p('expected.tar'), p('x-expected'));
      assert.deepEqual(snapshot(p('x-fs')).entries, snapshot(p('x-expected')).entries);
      assert.equal(dataDigest(p('fs.tar')), dataDigest(p('in.tar')));
      if (format === 'gnu') {
        // Byte for byte what GNU tar wrote for the shifted tree: same layout, same base-256 fields.
        assert.ok(readFileSync(p('fs.tar')).equals(readFileSync(p('expected.tar'))));
      }
    });
  }
});

describe('tar shift -o: interrupted while waiting for input', () => {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGKILL'] as const) {
    test(`${signal} ends it at once and leaves neither the output nor a temporary file`, async () => {
      const dir = tempRoot('fsidmap-tar-signal');
      try {
        const child = spawn(process.execPath, [CLI, 'tar', 'shift', '0:100000:65536', '-o', join(dir, 'out.tar')], {
          stdio: ['pipe', 'ignore', 'pipe'],
        });
        child.stdin.on('error', () => undefined); // EPIPE once the child is gone
        // Half an archive, then silence: the shift blocks reading its input.
        child.stdin.write(buildArchive([{ path: 'f', uid: 0, gid: 0, data: Buffer.alloc(1 << 20, 1) }]).subarray(0, 600 * 1024));
        await new Promise((r) => setTimeout(r, 500));
        const started = Date.now();
        child.kill(signal);
        const [code, sig] = await new Promise<[number | null, string | null]>((r) => child.once('exit', (c, s) => r([c, s])));
        child.stdin.destroy();
        assert.equal(sig, signal, `exit code ${code}`);
        assert.ok(Date.now() - started < 2000, 'ended promptly');
        assert.deepEqual(readdirSync(dir), []);
      } finally {
        cleanup(dir);
      }
    });
  }
});

function mkdirp(path: string): string {
  run('mkdir', ['-p', path]);
  return path;
}
