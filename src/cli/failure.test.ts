import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runCli } from './run-cli.test-support.js';

const dir = mkdtempSync(join(tmpdir(), 'fsidmap-failure-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('the top level', () => {
  test('fsidmap alone prints the usage on stderr and exits 2', async () => {
    const r = await runCli([]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /usage: fsidmap COMMAND/);
  });

  test('-V, --version and version print the version', async () => {
    for (const argv of [['-V'], ['--version'], ['version']]) {
      const r = await runCli(argv);
      assert.deepEqual([r.code, r.stderr], [0, ''], argv.join(' '));
      assert.match(r.stdout, /^fsidmap \d+\.\d+\.\d+\n$/);
    }
    assert.match(JSON.parse((await runCli(['version', '--json'])).stdout).version, /^\d+\.\d+\.\d+$/);
  });

  test('a command family answers --help with its commands, and alone says it needs one', async () => {
    const help = await runCli(['map', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /map check/);
    assert.doesNotMatch(help.stdout, /\balloc\b/);
    const bare = await runCli(['map']);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /^fsidmap map needs a subcommand: check, show/);
  });

  test('with --json, an unknown command or no command is a JSON error', async () => {
    for (const argv of [['bogus', '--json'], ['--json']]) {
      const r = await runCli(argv);
      assert.equal(r.code, 2);
      assert.equal(JSON.parse(r.stderr).error.code, 'ERR_USAGE', argv.join(' '));
    }
  });

  test('an option error names the command once', async () => {
    const r = await runCli(['map', 'check', '--bogus']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^fsidmap map check: Unknown option '--bogus'\n/);
  });

  test('echoed input is clipped and printable', async () => {
    const r = await runCli([`bad\nname${'x'.repeat(5000)}`]);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.length < 600, `${r.stderr.length} characters`);
    assert.match(r.stderr, /bad\\x0aname/);
  });
});

describe('arguments', () => {
  test('after --, arguments are positionals (map check -- -1:0:1 checks "-1:0:1")', async () => {
    const r = await runCli(['map', 'check', '--', '-1:0:1']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /MAP "-1:0:1" is not an inline spec: "-1:0:1": inner "-1" is not a base-10 number/);
    assert.equal((await runCli(['map', 'check', '--', '0:100000:65536'])).code, 0);
  });

  test('a malformed inline map says what is wrong with it, not "no such file"', async () => {
    const cases: Array<[string, RegExp]> = [
      ['0:100000', /"0:100000" has 2 fields, not 3/],
      ['a:b:c', /inner "a" is not a base-10 number/],
      ['0:1:2,3:x:4', /entry 2 "3:x:4": outer "x" is not a base-10 number/],
    ];
    for (const [arg, expected] of cases) {
      const r = await runCli(['map', 'check', arg]);
      assert.equal(r.code, 2, arg);
      assert.match(r.stderr, expected);
      assert.doesNotMatch(r.stderr, /no such file/);
    }
  });

  test('a path that is missing is reported as a missing file, with the errno', async () => {
    const r = await runCli(['map', 'check', '--json', join(dir, 'none.map')]);
    assert.equal(r.code, 2);
    const e = JSON.parse(r.stderr).error;
    assert.match(e.message, /cannot read map file .*none\.map: no such file or directory \(ENOENT\)/);
    assert.equal(e.context.errno, 'ENOENT');
  });
});

describe('operating-system errors', () => {
  test('a missing input file is a coded error with the path and the argument, exit 2, no stack, nothing created', async () => {
    const r = await runCli(['tar', 'unpack', '--json', '0:100000:65536', join(dir, 'none.tar'), join(dir, 'out')]);
    assert.equal(r.code, 2, r.stderr);
    const e = JSON.parse(r.stderr).error;
    assert.equal(e.code, 'ERR_NOT_FOUND');
    assert.deepEqual([e.context.path, e.context.argument], [join(dir, 'none.tar'), 'ARCHIVE']);
    assert.ok(!existsSync(join(dir, 'out')), 'DIR was not created');
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});
