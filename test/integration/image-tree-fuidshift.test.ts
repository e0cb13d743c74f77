import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lchownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseMap } from '../../src/idmap/index.js';
import { shiftTree } from '../../src/tree/index.js';
import { diffSnapshots, makeFixture, type Snap, snapshot } from './tree-fixture.js';

/**
 * fsidmap image shift against Incus/LXD's fuidshift (Debian lxd-tools) on the
 * same trees: owners, modes, ACLs (as getfacl -n prints them), capabilities
 * (as getcap -n prints them), hard links. Where the two differ, the test
 * states how, and checks that fsidmap's result is the right one.
 */
const haveFuidshift = spawnSync('fuidshift', ['--version']).status === 0;
const skip = process.getuid?.() !== 0 ? 'needs root' : !haveFuidshift ? 'fuidshift (Debian lxd-tools) is not installed' : false;
const work = mkdtempSync(join(tmpdir(), 'fsidmap-i7fuid-'));
const stateDir = join(work, 'state');
after(() => rmSync(work, { recursive: true, force: true }));

function twoCopies(name: string, make: (dir: string) => void): [string, string] {
  const a = join(work, `${name}-fuidshift`),
    b = join(work, `${name}-fsidmap`);
  make(a);
  execFileSync('cp', ['-a', a, b]);
  return [a, b];
}

function fuidshift(dir: string, ...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync('fuidshift', [dir, ...args], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

/** getfacl -R -n output per file, paths relative to dir. */
function acls(dir: string): Map<string, string> {
  const text = execFileSync('getfacl', ['-R', '-n', '-P', '-p', dir], { encoding: 'utf8' });
  const out = new Map<string, string>();
  for (const block of text.split('\n\n')) {
    const m = /^# file: (.*)$/m.exec(block);
    if (!m) continue;
    out.set(
      m[1].slice(dir.length).replace(/^\//, '') || '.',
      block
        .split('\n')
        .filter((l) => !l.startsWith('# file:'))
        .join('\n'),
    );
  }
  return out;
}

/** getcap -n -r output per file: "caps [rootid=N]". */
function caps(dir: string): Map<string, string> {
  const text = execFileSync('getcap', ['-n', '-r', dir], { encoding: 'utf8' });
  const out = new Map<string, string>();
  for (const line of text.split('\n').filter(Boolean)) {
    const at = line.indexOf(' ');
    out.set(line.slice(dir.length + 1, at), line.slice(at + 1));
  }
  return out;
}

const withoutCaps = (s: Map<string, Snap>) => new Map([...s].map(([k, v]) => [k, { ...v, cap: null }]));

test(
  'fuidshift: forward shift b:0:100000:65536 — identical in every respect, v2 capabilities scoped to v3 rootid MAP(0) by both',
  { skip },
  async () => {
    const [a, b] = twoCopies('forward', (d) => makeFixture(d, { files: 1200, base: 0, seed: 31, oneNamedAclEntry: true }));
    assert.equal(fuidshift(a, 'b:0:100000:65536').status, 0);
    await shiftTree(b, parseMap('0 100000 65536\n'), { stateDir });
    assert.deepEqual(diffSnapshots(snapshot(a), snapshot(b)), []);
    assert.deepEqual(acls(a), acls(b));
    assert.ok(
      [...acls(b).values()].some((t) => /user:101000/.test(t)),
      'ACL qualifiers were moved',
    );
    const ca = caps(a),
      cb = caps(b);
    assert.deepEqual(ca, cb);
    assert.ok(cb.size > 0);
    for (const [f, c] of cb) assert.match(c, /\[rootid=100000\]$/, `${f}: v3, the container's root`);
  },
);

test('fsidmap --keep-v2-caps: v2 capabilities stay v2 (where fuidshift scopes them), everything else as fuidshift', { skip }, async () => {
  const [a, b] = twoCopies('forward-keep', (d) => makeFixture(d, { files: 600, base: 0, seed: 37, oneNamedAclEntry: true }));
  assert.equal(fuidshift(a, 'b:0:100000:65536').status, 0);
  await shiftTree(b, parseMap('0 100000 65536\n'), { stateDir, capabilities: 'keep-v2' });
  assert.deepEqual(diffSnapshots(withoutCaps(snapshot(a)), withoutCaps(snapshot(b))), []);
  const ca = caps(a);
  assert.ok(ca.size > 0);
  for (const [f, c] of caps(b)) {
    assert.doesNotMatch(c, /rootid/, `${f}: kept v2`);
    assert.equal(ca.get(f), `${c} [rootid=100000]`, `${f}: fuidshift makes v3 with rootid MAP(0)`);
  }
});

test('fuidshift: reverse shift -r of a tree at 100000 with v2 and v3 capabilities — identical in every respect', { skip }, async () => {
  const [a, b] = twoCopies('reverse', (d) =>
    makeFixture(d, { files: 1200, base: 100000, seed: 32, capRootIds: [0], oneNamedAclEntry: true }),
  );
  assert.ok([...caps(a).values()].some((c) => /rootid=100000/.test(c)) && [...caps(a).values()].some((c) => !/rootid/.test(c)));
  assert.equal(fuidshift(a, '-r', 'b:0:100000:65536').status, 0);
  await shiftTree(b, parseMap('0 100000 65536\n'), { stateDir, reverse: true });
  assert.deepEqual(diffSnapshots(snapshot(a), snapshot(b)), []);
  assert.deepEqual(acls(a), acls(b));
  assert.deepEqual(caps(a), caps(b));
});

test('fuidshift bug: of several named users (or groups) in one ACL only the first is shifted; fsidmap shifts all', { skip }, async () => {
  const [a, b] = twoCopies('acl-many', (d) => {
    mkdirSync(d);
    writeFileSync(join(d, 'f'), '');
    execFileSync('setfacl', ['-m', 'u:1000:rwx,u:2000:r,u:3000:x,g:10:r,g:20:w', join(d, 'f')]);
    execFileSync('setfacl', ['-d', '-m', 'u:1000:rwx,u:2000:r', d]);
  });
  assert.equal(fuidshift(a, 'b:0:100000:65536').status, 0);
  await shiftTree(b, parseMap('0 100000 65536\n'), { stateDir });
  const fa = acls(a).get('f') as string,
    fb = acls(b).get('f') as string;
  const named = (t: string) =>
    t
      .split('\n')
      .filter((l) => /^(user|group):\d/.test(l))
      .sort();
  assert.deepEqual(named(fb), ['group:100010:r--', 'group:100020:-w-', 'user:101000:rwx', 'user:102000:r--', 'user:103000:--x']);
  assert.deepEqual(
    named(fa),
    ['group:100010:r--', 'group:20:-w-', 'user:101000:rwx', 'user:2000:r--', 'user:3000:--x'],
    'fuidshift left 2000, 3000 and group 20 unshifted',
  );
  assert.match(acls(b).get('.') as string, /default:user:102000:r--/);
  assert.match(acls(a).get('.') as string, /default:user:2000:r--/);
});

test(
  'fuidshift bug: a v3 capability of a nested namespace (rootid ≠ the image root) gets rootid MAP(0); fsidmap moves it to MAP(rootid)',
  { skip },
  async () => {
    const [a, b] = twoCopies('nested', (d) => makeFixture(d, { files: 300, base: 0, seed: 33, capRootIds: [1000] }));
    assert.equal(fuidshift(a, 'b:0:100000:65536').status, 0);
    await shiftTree(b, parseMap('0 100000 65536\n'), { stateDir });
    // The fixture's v3 capabilities are cap_net_admin (its v2 ones, now rootid 100000, are not).
    const nested = [...caps(b)].filter(([, c]) => /^cap_net_admin=ep/.test(c));
    assert.ok(nested.length > 0);
    for (const [f, c] of nested) {
      assert.match(c, /\[rootid=101000\]$/, `${f}: fsidmap, root 1000 of the image is 101000 now`);
      assert.match(caps(a).get(f) as string, /\[rootid=100000\]$/, `${f}: fuidshift widens it to the container root`);
    }
  },
);

test('fuidshift bug: moving a tree between two non-zero bases drops its v3 capabilities; fsidmap keeps them', { skip }, async () => {
  const [a, b] = twoCopies('rebase', (d) =>
    makeFixture(d, { files: 300, base: 100000, seed: 34, capRootIds: [0], oneNamedAclEntry: true }),
  );
  const before = caps(a);
  assert.ok([...before.values()].some((c) => /rootid=100000/.test(c)));
  assert.equal(fuidshift(a, 'b:100000:200000:65536').status, 0, 'fuidshift reports success');
  await shiftTree(b, parseMap('100000 200000 65536\n'), { stateDir });
  const ca = caps(a),
    cb = caps(b);
  for (const [f, c] of before) {
    if (!/rootid/.test(c)) continue;
    assert.equal(ca.get(f), undefined, `${f}: fuidshift lost the capability (rootid MAP(0) is unmapped)`);
    assert.equal(cb.get(f), c.replace('rootid=100000', 'rootid=200000'), `${f}: fsidmap`);
  }
  assert.deepEqual(diffSnapshots(withoutCaps(snapshot(a)), withoutCaps(snapshot(b))), []);
});

test('fuidshift differs: it enters other mounts below the tree; fsidmap leaves them unless --cross-filesystems', { skip }, async () => {
  const [a, b] = twoCopies('mounts', (d) => makeFixture(d, { files: 40, base: 0, seed: 35 }));
  const mounted: string[] = [];
  try {
    for (const d of [a, b]) {
      mkdirSync(join(d, 'm'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'fsidmap-i7fuid', join(d, 'm')]);
      mounted.push(join(d, 'm'));
      writeFileSync(join(d, 'm', 'x'), '');
      lchownSync(join(d, 'm', 'x'), 4, 4);
    }
    assert.equal(fuidshift(a, 'b:0:100000:65536').status, 0);
    await shiftTree(b, parseMap('0 100000 65536\n'), { stateDir });
    assert.equal(snapshot(join(a, 'm')).get('x')?.uid, 100004, 'fuidshift crossed into the tmpfs');
    assert.equal(snapshot(join(b, 'm')).get('x')?.uid, 4, 'fsidmap did not');
  } finally {
    for (const m of mounted) execFileSync('umount', [m]);
  }
});

test(
  'fuidshift differs: ids the map does not cover — fuidshift keeps owners silently and fails midway on ACLs; fsidmap refuses before any change',
  { skip },
  async () => {
    const [a, b] = twoCopies('unmapped', (d) => {
      makeFixture(d, { files: 200, base: 0, seed: 36, strayUids: [70000] });
      writeFileSync(join(d, 'zz-acl'), '');
      execFileSync('setfacl', ['-m', 'u:80000:r', join(d, 'zz-acl')]);
    });
    const before = snapshot(b);
    const fr = fuidshift(a, 'b:0:100000:65536');
    assert.notEqual(fr.status, 0, 'fuidshift fails on the ACL');
    const sa = snapshot(a);
    const shifted = [...sa.values()].filter((s) => s.uid >= 100000).length;
    assert.ok(shifted > 0 && shifted < sa.size, `fuidshift left the tree partly shifted (${shifted} of ${sa.size})`);
    await assert.rejects(shiftTree(b, parseMap('0 100000 65536\n'), { stateDir }), { code: 'ERR_SHIFT_UNMAPPED' });
    assert.deepEqual(diffSnapshots(snapshot(b), before), [], 'fsidmap changed nothing');
    assert.ok(existsSync(b));
  },
);
