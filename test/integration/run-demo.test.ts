// `fsidmap demo` does the seed's example for real as root, and says why not otherwise.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { cliPath, rootSkip } from './support/run-fixtures.js';

interface DemoJson {
  real: null | {
    containers: Array<{
      idmap: string;
      id: string;
      ls: string;
      created: string;
      processes: Array<{ role: string; uid: number[]; gid: number[] }>;
      exitCode: number;
    }>;
    landed: Array<{ path: string; uid: number; gid: number }>;
    left: { mounts: number; processes: number };
  };
  realSkipped: string | null;
}

describe('fsidmap demo', () => {
  it("runs the two containers of the seed's example for real and cleans up", { skip: rootSkip }, () => {
    const r = spawnSync(process.execPath, [cliPath, 'demo', '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const d = JSON.parse(r.stdout) as DemoJson;
    assert.equal(d.realSkipped, null);
    assert.ok(d.real);
    assert.deepEqual(
      d.real.containers.map((c) => c.idmap),
      ['0:100000:65536', '0:200000:65536'],
    );
    const kuid = [100000, 200000];
    d.real.containers.forEach((c, i) => {
      assert.equal(c.exitCode, 0);
      assert.match(c.id, /^uid=0\(root\) gid=0\(root\)/);
      assert.match(c.ls, /\n\S+\s+\d+\s+0\s+0\s+\d+ .* etc\n/, 'the image shows as owned by 0:0');
      assert.match(c.created, /^-rw-r--r-- 1 0 0 /);
      for (const p of c.processes)
        assert.deepEqual(
          [p.uid, p.gid],
          [
            [kuid[i], kuid[i], kuid[i], kuid[i]],
            [kuid[i], kuid[i], kuid[i], kuid[i]],
          ],
        );
    });
    assert.deepEqual(
      d.real.landed.map((l) => [l.uid, l.gid]),
      [
        [300000, 300000],
        [300000, 300000],
      ],
    );
    assert.deepEqual(d.real.left, { mounts: 0, processes: 0 });
  });

  it('says why the real part is skipped when not root', () => {
    // As root, drop to nobody with util-linux's setpriv; otherwise run as we are.
    const argv = [process.execPath, cliPath, 'demo', '--json'];
    const r =
      process.getuid?.() === 0
        ? spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', ...argv], { encoding: 'utf8', cwd: '/' })
        : spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const d = JSON.parse(r.stdout) as DemoJson;
    assert.equal(d.real, null);
    assert.match(d.realSkipped ?? '', /not root/);
  });
});
