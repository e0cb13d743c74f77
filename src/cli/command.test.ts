import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineCommand, parseCommandArgs } from './command.js';

describe('parseCommandArgs: a command whose options stop at NAME (exec)', () => {
  const exec = defineCommand({
    name: 'exec',
    stopsAtPositional: true,
    summary: '',
    usage: '',
    options: { tty: { type: 'boolean', short: 't' }, user: { type: 'string', short: 'u' }, env: { type: 'string', multiple: true } },
    run: async () => 0,
  });

  it('takes options before NAME, and everything after it as CMD, options and -- included', () => {
    const a = parseCommandArgs(exec, ['-t', '--user', 'alice', '--env=A=1', 'box', 'sh', '-c', 'ls -l', '--user', 'x', '--']);
    assert.deepEqual(a.positionals, ['box']);
    assert.deepEqual(a.rest, ['sh', '-c', 'ls -l', '--user', 'x', '--']);
    assert.equal(a.values.tty, true);
    assert.equal(a.values.user, 'alice');
    assert.deepEqual(a.values.env, ['A=1']);
  });

  it('reads a short option value as its value, not as NAME; -- before NAME ends the options', () => {
    assert.deepEqual(parseCommandArgs(exec, ['-u', '7', 'box', 'id']).positionals, ['box']);
    const b = parseCommandArgs(exec, ['--', '-odd-name', 'true']);
    assert.deepEqual([b.positionals, b.rest], [['-odd-name'], ['true']]);
  });

  it('still refuses an unknown option before NAME', () => {
    assert.throws(() => parseCommandArgs(exec, ['--nope', 'box', 'true']), /fsidmap exec/);
  });
});
