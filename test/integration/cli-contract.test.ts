// The CLI's contract, walked over every command the binary has (issue 14): --help works and prints
// the usage on stdout; an unknown option is exit 2 with one "fsidmap COMMAND:" prefix; bad input of
// each command is never exit 70 nor a stack trace; with --json the answer is JSON, on success on
// stdout and on error {"error":{"code","message","hint"}} on stderr.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadAllCommands } from '../../src/cli/commands/index.js';
import { cliPath, tempDir } from './support/run-fixtures.js';

const commands = await loadAllCommands();
const tmp = tempDir('contract');
const MISSING = join(tmp.dir, 'no-such-path');
// Nothing a command does here may touch the machine's registry, state, image store or broker.
const env = {
  PATH: process.env.PATH,
  HOME: tmp.dir,
  XDG_STATE_HOME: join(tmp.dir, 'xdg'),
  FSIDMAP_STATE_DIR: join(tmp.dir, 'state'),
  FSIDMAP_RUN_DIR: join(tmp.dir, 'run'),
  FSIDMAP_DB: join(tmp.dir, 'registry.db'),
  FSIDMAP_BROKER_SOCKET: join(tmp.dir, 'no-broker.sock'),
};
mkdirSync(env.XDG_STATE_HOME);
const A_FILE = join(tmp.dir, 'a-file');
writeFileSync(A_FILE, 'not an archive, not a directory\n');

function fsidmap(args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', env, cwd: tmp.dir, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

/** Bad input for each command: missing, malformed, of the wrong kind. Every command must have a row. */
const BAD: Record<string, string[][]> = {
  'map check': [['0:100000'], [MISSING], ['a:b:c']],
  'map show': [['0:1'], [MISSING]],
  'map translate': [['0:1:1', '--down', 'x'], ['0:1:1']],
  'map compose': [['0:1:1'], ['0:1:1', 'x']],
  'map invert': [[MISSING], ['1:2']],
  'map mount-map': [
    ['--idmap', '0:1'],
    ['--idmap', '0:100000:65536', '--fsidmap', '0:300000:65536', 'extra'],
  ],
  'image inspect': [[MISSING], ['a\nb']],
  'image shift': [
    [MISSING, '0:1:1'],
    [tmp.dir, '0:1'],
  ],
  'image import': [[MISSING], ['/etc/passwd']],
  'image list': [['extra']],
  'image rm': [['no-such-image']],
  'image gc': [['extra']],
  'image export': [['no-such-image', join(tmp.dir, 'out')]],
  alloc: [['bad name!'], ['x'.repeat(5000)], ['c1', '--size', 'lots']],
  release: [['no-such-name']],
  list: [['extra'], ['--db', join(MISSING, 'r.db')]],
  show: [['no-such-name']],
  who: [['x'], ['4294967296']],
  gc: [['extra']],
  'subid check': [['no-such-user-fsidmap']],
  'subid audit': [['extra'], ['--root', MISSING]],
  'tar shift': [['0:1'], [MISSING, '0:1:1']],
  'tar unpack': [
    ['0:1:1', MISSING, join(tmp.dir, 'unpacked')],
    ['0:1:1', A_FILE, A_FILE],
  ],
  simulate: [[MISSING], ['/etc/passwd']],
  explain: [
    ['--uidmap', '0:1:1', '--gidmap', '0:1:1', MISSING],
    ['--uidmap', '0:1'],
  ],
  mount: [
    ['--idmap', '0:1:1', '--fsidmap', '0:1:1', MISSING, MISSING],
    ['--idmap', '0:1'],
  ],
  umount: [[MISSING], []],
  run: [
    ['--idmap', '0:100000', '--', '/bin/true'],
    ['--idmap', '0:100000:65536', '--rootfs', MISSING, '--', '/bin/true'],
  ],
  'container list': [['extra']],
  'container rm': [['no-such-container']],
  commit: [['no-such-container'], ['no-such-container', 'bad name!']],
  ps: [['extra'], ['--bogus-filter']],
  exec: [['no-such-container', '--', '/bin/true'], []],
  stop: [['no-such-container'], ['c', '--time', 'soon']],
  kill: [['no-such-container'], ['c', 'NOSUCHSIG']],
  logs: [['no-such-container'], []],
  'oci config': [
    ['--idmap', '0:100000', '--rootfs', tmp.dir, '--', '/bin/true'],
    ['--idmap', '0:100000:65536', '--rootfs', MISSING, '--', '/bin/true'],
  ],
  broker: [['--limits', MISSING, '--audit-log', '-'], ['extra']],
  'broker status': [[]],
  'broker alloc': [['x']],
  'broker release': [['x']],
  'broker list': [[]],
  serve: [['extra'], ['--listen', 'not a host:port']],
  report: [['extra']],
  demo: [['extra']],
  completion: [['zsh'], []],
  man: [['no-such-command'], ['map', 'nope']],
};

const STACK = /^\s+at .+:\d+:\d+\)?$/m;

describe('the CLI contract, for every command', () => {
  after(() => tmp.remove());

  it('has a table of bad inputs for every command', () => {
    assert.deepEqual(
      commands.map((c) => c.name).filter((n) => !(n in BAD)),
      [],
    );
  });

  for (const c of commands) {
    const words = c.name.split(' ');
    const json = 'json' in c.options;

    it(`${c.name}: --help prints its usage on stdout, exit 0`, () => {
      const r = fsidmap([...words, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.ok(r.stdout.startsWith(`${c.summary}\n\n`), r.stdout.slice(0, 200));
      assert.ok(r.stdout.includes(`fsidmap ${c.name}`), 'the usage names the command');
    });

    it(`${c.name}: an unknown option is exit 2, with one prefix${json ? ', and with --json a JSON error' : ''}`, () => {
      const r = fsidmap([...words, '--no-such-option']);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(
        r.stderr,
        new RegExp(`^fsidmap ${c.name}: Unknown option '--no-such-option'\\n {2}hint: see fsidmap ${c.name} --help\\n$`),
      );
      if (!json) return;
      const j = fsidmap([...words, '--json', '--no-such-option']);
      assert.equal(j.code, 2);
      assert.equal(j.stdout, '');
      const e = JSON.parse(j.stderr) as { error: { code: string; message: string; hint: string | null } };
      assert.equal(e.error.code, 'ERR_USAGE');
      assert.match(e.error.message, /Unknown option '--no-such-option'/);
    });

    for (const bad of BAD[c.name] ?? []) {
      const shown = bad.map((a) => (a.length > 40 ? `${a.slice(0, 20)}…` : a).replace(tmp.dir, 'TMP')).join(' ');
      it(`${c.name} ${shown}: no exit 70, no stack trace${json ? '; --json answers JSON' : ''}`, () => {
        const r = fsidmap([...words, ...bad]);
        assert.equal(r.signal, null, 'ended by itself');
        assert.notEqual(r.code, 70, r.stderr);
        assert.doesNotMatch(r.stderr, STACK);
        if (r.code !== 0) assert.match(r.stderr, /^fsidmap[ :]/m, 'the error says it is fsidmap’s');
        if (!json) return;
        const dd = bad.indexOf('--');
        const withJson = dd < 0 ? [...words, ...bad, '--json'] : [...words, ...bad.slice(0, dd), '--json', ...bad.slice(dd)];
        const j = fsidmap(withJson);
        assert.notEqual(j.code, 70, j.stderr);
        assert.doesNotMatch(j.stderr, STACK);
        // Success, or a report of what failed (container rm: {"removed","errors"}, exit 1): JSON on stdout.
        if (j.code === 0 || j.stderr === '') {
          JSON.parse(j.stdout);
          return;
        }
        const lines = j.stderr.trimEnd().split('\n');
        const e = JSON.parse(lines[lines.length - 1]) as { error: { code: unknown; message: unknown; hint: unknown } };
        assert.match(String(e.error.code), /^ERR_[A-Z0-9_]+$/);
        assert.equal(typeof e.error.message, 'string');
        assert.ok(e.error.hint === null || typeof e.error.hint === 'string');
        if (j.stdout !== '') JSON.parse(j.stdout); // a whole report (explain of a partly unreadable tree), never a part of one
      });
    }
  }

  it('top level: no command is exit 2 with the usage; -V, version; a family --help; unknown commands in JSON', () => {
    const none = fsidmap([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^fsidmap: filesystem id mappings/);
    for (const v of [['-V'], ['--version'], ['version']]) assert.match(fsidmap(v).stdout, /^fsidmap \d+\.\d+\.\d+\n$/);
    const family = fsidmap(['map', '--help']);
    assert.equal(family.code, 0);
    assert.match(family.stdout, /map check/);
    assert.doesNotMatch(family.stdout, /\n {2}alloc /);
    for (const args of [['--json'], ['bogus', '--json']]) {
      const r = fsidmap(args);
      assert.equal(r.code, 2);
      assert.equal((JSON.parse(r.stderr) as { error: { code: string } }).error.code, 'ERR_USAGE');
    }
  });
});
