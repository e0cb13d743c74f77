// Issue 14, errors a newcomer meets in the first hour: each is refused or answered with a message
// that says what is wrong (and, with --json, one whole JSON object or none), never half an answer.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseMap } from '../../src/idmap/index.js';
import { shiftTree } from '../../src/tree/index.js';
import { cliPath, rootSkip, tempDir } from './support/run-fixtures.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

function fsidmap(args: string[], options: { env?: NodeJS.ProcessEnv; as?: number } = {}) {
  const argv = [process.execPath, cliPath, ...args];
  const env = { PATH: process.env.PATH, HOME: '/', ...options.env };
  const r =
    options.as === undefined
      ? spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env })
      : spawnSync('setpriv', [`--reuid=${options.as}`, `--regid=${options.as}`, '--clear-groups', '--', ...argv], {
          encoding: 'utf8',
          env,
          cwd: '/',
        });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const mountCount = (dst: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[4] === dst).length;

describe('newcomer errors (issue 14)', () => {
  const tmp = tempDir('newcomer');
  // Readable by nobody: the walk below is done as nobody when we are root.
  chmodSync(tmp.dir, 0o755);
  after(() => tmp.remove());
  const explainMaps = ['--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536'];

  it('explain with a missing PATH prints nothing on stdout, and with --json one JSON error', () => {
    mkdirSync(join(tmp.dir, 'present'));
    const json = fsidmap(['explain', ...explainMaps, '--json', join(tmp.dir, 'present'), join(tmp.dir, 'missing')]);
    assert.equal(json.code, 2, json.stderr);
    assert.equal(json.stdout, '', 'no half-written JSON');
    const e = JSON.parse(json.stderr) as { error: { code: string; message: string; context: { path: string } } };
    assert.equal(e.error.code, 'ERR_NOT_FOUND');
    assert.equal(e.error.context.path, join(tmp.dir, 'missing'));
    const text = fsidmap(['explain', ...explainMaps, join(tmp.dir, 'present'), join(tmp.dir, 'missing')]);
    assert.equal(text.code, 2);
    assert.equal(text.stdout, '', 'not even the header');
    assert.match(text.stderr, /^fsidmap: cannot explain .*missing: no such file or directory \(ENOENT\)\n {2}hint: /);
  });

  it('explain goes past a directory it cannot list: the report is whole, names it, and exits 1', () => {
    const tree = join(tmp.dir, 'walk');
    mkdirSync(join(tree, 'a-locked'), { recursive: true });
    writeFileSync(join(tree, 'z-after'), 'x');
    chmodSync(join(tree, 'a-locked'), 0o000);
    const as = isRoot ? NOBODY : undefined; // root reads everything (CAP_DAC_READ_SEARCH)
    const r = fsidmap(['explain', ...explainMaps, '--json', tree], { ...(as !== undefined ? { as } : {}) });
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout) as {
      entries: Array<{ path: string }>;
      summary: { entries: number; unreadable: Array<{ path: string; errno: string; action: string }> };
    };
    assert.deepEqual(
      report.entries.map((e) => e.path),
      [tree, `${tree}/a-locked`, `${tree}/z-after`],
      'the walk went on after the locked directory',
    );
    assert.deepEqual(report.summary.unreadable, [{ path: `${tree}/a-locked`, errno: 'EACCES', action: 'list' }]);
    assert.equal((JSON.parse(r.stderr) as { error: { code: string } }).error.code, 'ERR_TREE_READ');
    const text = fsidmap(['explain', ...explainMaps, tree], { ...(as !== undefined ? { as } : {}) });
    assert.equal(text.code, 1);
    assert.match(text.stdout, /\n3 entries: .*\ncould not list .*a-locked \(EACCES\): what is below it is not shown\n$/);
    const one = fsidmap(['explain', ...explainMaps, `${tree}/z-after`]);
    assert.match(one.stdout, /\n1 entry: /, 'one entry, not "1 entries"');
  });

  it('alloc --root and who --root refuse a directory that does not exist', () => {
    const db = join(tmp.dir, 'r1.db');
    for (const args of [
      ['alloc', 'c1', '--db', db, '--root', '/nonexistent-fsidmap'],
      ['who', '5', '--db', db, '--root', '/nonexistent-fsidmap'],
    ]) {
      const r = fsidmap(args);
      assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /^fsidmap: cannot use --root \/nonexistent-fsidmap: no such file or directory \(ENOENT\)\n/);
    }
  });

  it('echoed input is escaped and bounded; messages say "an image"', () => {
    const db = join(tmp.dir, 'r2.db');
    const long = fsidmap(['alloc', 'a'.repeat(5000), '--db', db]);
    assert.equal(long.code, 2);
    assert.ok(long.stderr.length < 1000, `${long.stderr.length} characters of error`);
    assert.match(long.stderr, /a… \(500[0-2] characters\)/);
    const newline = fsidmap(['alloc', 'a\nfsidmap: forged line', '--db', db]);
    assert.equal(newline.code, 2);
    assert.equal(newline.stderr.split('\n').length, 3, 'message and hint, each on one line');
    assert.match(newline.stderr, /a\\x0afsidmap: forged line/);
    assert.equal(fsidmap(['alloc', 'c1', '--db', db]).code, 0);
    const kind = fsidmap(['alloc', 'c1', '--kind', 'image', '--db', db]);
    assert.equal(kind.code, 1);
    assert.match(kind.stderr, /"c1" is already allocated as a container, not an image/);
  });

  it('id ranges in messages read FIRST–LAST, as shadow-utils users read them', () => {
    const r = fsidmap(['map', 'check', '0 100000 65536\n5 200000 10']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ids 5–14 inside the namespace overlap line 1 \(0–65535\)/);
  });

  it(
    'list as an ordinary user reads a root registry it may read',
    { skip: isRoot ? undefined : 'needs root (to make the registry and drop to nobody)' },
    () => {
      const dir = join(tmp.dir, 'reg');
      mkdirSync(dir, { mode: 0o755 });
      const db = join(dir, 'registry.db');
      assert.equal(fsidmap(['alloc', 'c1', '--db', db]).code, 0);
      chmodSync(db, 0o644);
      const r = fsidmap(['list', '--db', db], { as: NOBODY });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^NAME +KIND +UID +GID .*\nc1 +container +\d+:65536 /);
    },
  );

  describe('as root, on the real kernel', { skip: rootSkip }, () => {
    it('mount refuses a DST that is already a mount point', () => {
      const src = join(tmp.dir, 'msrc'),
        dst = join(tmp.dir, 'mdst');
      mkdirSync(src);
      mkdirSync(dst);
      chownSync(src, 300000, 300000);
      const args = ['mount', '--idmap', '0:100000:65536', '--fsidmap', '0:300000:65536', src, dst];
      try {
        assert.equal(fsidmap(args).code, 0);
        const again = fsidmap(args);
        assert.equal(again.code, 1);
        assert.match(
          again.stderr,
          /^fsidmap: DST .*mdst is already a mount point \(an idmapped .*\)\n {2}hint: remove it first with fsidmap umount /,
        );
        assert.equal(mountCount(dst), 1, 'no second mount stacked on the first');
        assert.equal(fsidmap(['umount', dst]).code, 0);
        assert.equal(mountCount(dst), 0);
      } finally {
        while (mountCount(dst) > 0) spawnSync('umount', [dst]);
      }
    });

    it('run of a file that is not executable exits 126', () => {
      const r = fsidmap(['run', '--idmap', '0:100000:65536', '--', '/etc/passwd']);
      assert.equal(r.code, 126, r.stderr);
      assert.match(r.stderr, /cannot be executed \(EACCES\)/);
    });

    it(
      "a volume's hint is in the volume's syntax, and podman's ro,fsidmap= comma style works",
      { skip: existsSync('/mnt') ? undefined : 'no /mnt' },
      () => {
        const vol = join(tmp.dir, 'vol');
        mkdirSync(vol);
        chownSync(vol, 1000, 1000);
        const wrong = fsidmap(['run', '--idmap', '0:100000:65536', '--volume', `${vol}:/mnt:ro,fsidmap=0:300000:65536`, '--', '/bin/true']);
        assert.equal(wrong.code, 1);
        assert.ok(wrong.stderr.includes(`e.g. --volume ${vol}:/mnt:fsidmap=0:1000:1 if`), wrong.stderr);
        const ro = fsidmap([
          'run',
          '--idmap',
          '0:100000:65536',
          '--volume',
          `${vol}:/mnt:ro,fsidmap=0:1000:1`,
          '--',
          '/bin/sh',
          '-c',
          'stat -c %u:%g /mnt; touch /mnt/x',
        ]);
        assert.equal(ro.stdout, '0:0\n', 'the volume owner shows as root inside');
        assert.notEqual(ro.code, 0);
        assert.match(ro.stderr, /Read-only file system/);
        assert.equal(existsSync(join(vol, 'x')), false);
        const bad = fsidmap(['run', '--idmap', '0:100000:65536', '--volume', `${vol}:/mnt:ro,z`, '--', '/bin/true']);
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /unknown option "z" \(only ro, rw and fsidmap=MAP/);
      },
    );

    it('an id map that sends container root to host root runs with a warning', () => {
      const r = fsidmap(['run', '--idmap', '0:0:65536', '--', '/bin/true']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stderr,
        /fsidmap: note: the id map sends the container's uid 0 to host uid 0: root in the container is root on the host/,
      );
    });

    it('a completed shift run again says it is complete; a pending one shows its MAP as typed', async () => {
      const stateDir = join(tmp.dir, 'state');
      const tree = join(tmp.dir, 'shiftme');
      mkdirSync(join(tree, 'd'), { recursive: true });
      for (let i = 0; i < 50; i++) writeFileSync(join(tree, 'd', `f${i}`), '');
      const env = { FSIDMAP_STATE_DIR: stateDir };
      assert.equal(fsidmap(['image', 'shift', tree, '0:100000:65536'], { env }).code, 0);
      const again = fsidmap(['image', 'shift', tree, '0:100000:65536'], { env });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /is already as a completed shift with this MAP left it: nothing to do/);
      assert.doesNotMatch(again.stdout, /interrupted/);

      const stop = new AbortController();
      await assert.rejects(
        shiftTree(tree, parseMap('100000 200000 65536\n'), {
          stateDir,
          signal: stop.signal,
          onProgress: (p) => {
            if (p.phase === 'apply') stop.abort();
          },
        }),
        { code: 'ERR_SHIFT_INTERRUPTED' },
      );
      const other = fsidmap(['image', 'shift', tree, '100000:300000:65536'], { env });
      assert.equal(other.code, 1);
      assert.match(other.stderr, /pending with other arguments/);
      assert.ok(other.stderr.includes(`fsidmap image shift ${tree} 100000:200000:65536`), other.stderr);
      assert.doesNotMatch(other.stderr, / {3,}100000/, 'not the padded kernel format');
    });
  });
});
