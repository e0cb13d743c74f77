import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli } from '../run-cli.test-support.js';

describe('fsidmap map show --json', () => {
  test('the extents in the kernel’s order and the kernel text, the same lines as without --json', async () => {
    const map = '10:200000:5,0:100000:10,15:100010:1';
    const r = await runCli(['map', 'show', '--json', map]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const plain = await runCli(['map', 'show', map]);
    assert.deepEqual(JSON.parse(r.stdout), {
      extents: [
        { first: 10, lower: 200000, count: 5 },
        { first: 0, lower: 100000, count: 10 },
        { first: 15, lower: 100010, count: 1 },
      ],
      kernel: plain.stdout,
    });
  });

  test('with --normalize, the merged extents', async () => {
    const r = await runCli(['map', 'show', '--normalize', '--json', '5:100005:5,0:100000:5']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { extents: unknown[]; kernel: string };
    assert.deepEqual(j.extents, [{ first: 0, lower: 100000, count: 10 }]);
    assert.match(j.kernel, /^\s*0\s+100000\s+10\n$/);
  });

  test('a bad map is a JSON error on stderr, exit 2', async () => {
    const r = await runCli(['map', 'show', '--json', '0:1']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal((JSON.parse(r.stderr) as { error: { code: string } }).error.code.startsWith('ERR_'), true);
  });
});
