// `fsidmap completion bash` and `fsidmap man` (issue 14): both are generated from the command
// definitions, so they are checked against those definitions, in a real bash and a real man.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadAllCommands } from '../../src/cli/commands/index.js';
import { commandManPage, manPageName } from '../../src/cli/man-roff.js';
import { cliPath, tempDir } from './support/run-fixtures.js';

const commands = await loadAllCommands();
const tmp = tempDir('completion');
const hasMan = spawnSync('sh', ['-c', 'command -v man && command -v groff'], { encoding: 'utf8' }).status === 0;

function fsidmap(args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: tmp.dir } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const script = fsidmap(['completion', 'bash']).stdout;
const scriptFile = join(tmp.dir, 'fsidmap.bash');
writeFileSync(scriptFile, script);

/** What the completion function offers for each command line (the last word being completed), in one real bash. */
function complete(lines: readonly (readonly string[])[]): string[][] {
  const calls = lines
    .map((words) => {
      const quoted = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
      return `COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _fsidmap; echo "\${COMPREPLY[*]}"`;
    })
    .join('\n');
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', `source '${scriptFile}' || exit 9\n${calls}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.stdout
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => (l === '' ? [] : l.split(' ')));
}

/** The man page as man renders it, and what groff warned (man --warnings passes -ww). */
function render(page: string, name: string) {
  const file = join(tmp.dir, `${name}.1`);
  writeFileSync(file, page);
  const r = spawnSync('man', ['--warnings', '-l', file], { encoding: 'utf8', env: { ...process.env, MANPAGER: 'cat', MANWIDTH: '80' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

after(() => tmp.remove());

describe('fsidmap completion bash', () => {
  it('prints a script bash parses (bash -n)', () => {
    assert.match(script, /complete -o default -F _fsidmap fsidmap/);
    const r = spawnSync('bash', ['-n', scriptFile], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  it('completes command words, two-word commands included, and long options', () => {
    const [ma, mapCh, runId, brokerSt, brokerOpt, afterDashDash, imageIm, ociC] = complete([
      ['fsidmap', 'ma'],
      ['fsidmap', 'map', 'ch'],
      ['fsidmap', 'run', '--id'],
      ['fsidmap', 'broker', 'st'],
      ['fsidmap', 'broker', '--audit'],
      ['fsidmap', 'run', '--idmap', '0:100000:65536', '--', 'ls', '--id'],
      ['fsidmap', 'image', 'im'],
      ['fsidmap', 'oci', 'c'],
    ]);
    assert.deepEqual(ma, ['man', 'map']);
    assert.deepEqual(mapCh, ['check']);
    assert.deepEqual(runId, ['--idmap']);
    assert.deepEqual(brokerSt, ['status']);
    assert.deepEqual(brokerOpt, ['--audit-log']);
    assert.deepEqual(afterDashDash, [], "a program's own arguments are left alone");
    assert.deepEqual(imageIm, ['import']);
    assert.deepEqual(ociC, ['config']);
  });

  it("offers, after each command's words and --, exactly that command's long options and --help", () => {
    const offered = complete(commands.map((c) => ['fsidmap', ...c.name.split(' '), '--']));
    commands.forEach((c, i) => {
      const want = [...Object.keys(c.options).map((o) => `--${o}`), '--help'].sort();
      assert.deepEqual([...offered[i]].sort(), want, c.name);
    });
  });

  it('refuses a shell it has no script for, and no shell: exit 2, naming the shell', () => {
    for (const [args, said] of [
      [['completion', 'zsh'], /no completion for shell "zsh"/],
      [['completion'], /needs a shell: bash/],
    ] as const) {
      const r = fsidmap([...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, said);
      assert.match(r.stderr, /hint: bash is the one shell supported/);
    }
  });
});

describe('fsidmap man', () => {
  it('fsidmap(1) names every command and each one’s page', () => {
    const r = fsidmap(['man']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\.TH FSIDMAP 1 /);
    for (const s of ['NAME', 'SYNOPSIS', 'COMMANDS', 'SEE ALSO']) assert.match(r.stdout, new RegExp(`^\\.SH ${s}$`, 'm'));
    for (const c of commands) {
      assert.ok(r.stdout.includes(`.B fsidmap ${c.name.replace(/-/g, '\\-')}\n`), c.name);
      assert.ok(r.stdout.includes(`.BR ${manPageName(c)} (1)`), c.name);
    }
    if (hasMan) {
      const shown = render(r.stdout, 'fsidmap');
      assert.equal(shown.code, 0, shown.stderr);
      assert.equal(shown.stderr, '', 'groff has no warning');
      assert.match(shown.stdout, /fsidmap - filesystem id mappings/);
    }
  });

  it('every command has a page with NAME, SYNOPSIS and OPTIONS, every option in it; man renders it without warnings', () => {
    for (const c of commands) {
      const page = commandManPage(c, '0.0.0');
      assert.match(page, new RegExp(`^\\.TH ${manPageName(c).toUpperCase().replace(/-/g, '\\-')} 1 `), c.name);
      for (const s of ['NAME', 'SYNOPSIS', 'OPTIONS']) assert.match(page, new RegExp(`^\\.SH ${s}$`, 'm'), `${c.name}: ${s}`);
      for (const o of Object.keys(c.options)) assert.ok(page.includes(`\\fB\\-\\-${o.replace(/-/g, '\\-')}\\fR`), `${c.name}: --${o}`);
      assert.doesNotMatch(
        page,
        /^[.'](?!TH |SH |TP$|B |BR |I |nf$|fi$|sp$|br$|ad l$|nh$)/m,
        `${c.name}: no line of text taken for a request`,
      );
      if (!hasMan) continue;
      const shown = render(page, manPageName(c));
      assert.equal(shown.code, 0, `${c.name}: ${shown.stderr}`);
      assert.equal(shown.stderr, '', `${c.name}: groff has no warning`);
      assert.match(shown.stdout, new RegExp(`${manPageName(c)}\\s+- `), c.name);
      assert.ok(shown.stdout.includes(`fsidmap ${c.name}`), `${c.name}: the synopsis names the command`);
    }
  });

  it('fsidmap man map check prints fsidmap-map-check(1); an unknown command is exit 2', () => {
    const r = fsidmap(['man', 'map', 'check']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\.TH FSIDMAP-MAP-CHECK 1 /);
    const bad = fsidmap(['man', 'no-such-command']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /^fsidmap man: no command "no-such-command"\n {2}hint: see fsidmap --help/);
  });
});
