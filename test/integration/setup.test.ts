// scripts/setup.sh (run before `npm run demo`, `npm test`, `npm run bench`) does only what is missing,
// and --quiet prints nothing when nothing is missing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from './support/run-fixtures.js';

const setup = (...args: string[]) => spawnSync('sh', ['scripts/setup.sh', ...args], { cwd: repoRoot, encoding: 'utf8' });

// setup.sh would run `npm ci` when node_modules does not match package-lock.json, and node_modules may be
// shared by other checkouts: then this test does not run it.
const current = spawnSync(process.execPath, ['scripts/npm-packages-current.mjs', '--quiet'], { cwd: repoRoot });
const skip = current.status === 0 ? undefined : 'node_modules does not match package-lock.json (setup.sh would run npm ci)';

describe('scripts/setup.sh', { skip }, () => {
  it('run again with nothing missing, rebuilds nothing and --quiet says nothing', () => {
    const first = setup('--quiet');
    assert.equal(first.status, 0, first.stderr);
    const built = ['dist/src/cli/main.js', 'dist/native/fsidmap-stage'].map((f) => statSync(join(repoRoot, f)).mtimeMs);
    const again = setup('--quiet');
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout + again.stderr, '', '--quiet prints nothing when there is nothing to do');
    assert.deepEqual(
      ['dist/src/cli/main.js', 'dist/native/fsidmap-stage'].map((f) => statSync(join(repoRoot, f)).mtimeMs),
      built,
      'neither the TypeScript build nor the C stages were redone',
    );
    const loud = setup();
    assert.equal(loud.status, 0, loud.stderr);
    assert.equal(loud.stdout, 'setup: npm packages and the TypeScript build are up to date\n');
  });
});
