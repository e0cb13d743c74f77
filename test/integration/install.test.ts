// The packed package installed as a user installs it: `npm pack`, `npm install -g` into a fresh
// prefix, then `fsidmap` from that prefix's bin/ — its C stages built at install by the postinstall.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from './support/run-fixtures.js';

const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

/** npm's own variables (set when the tests run under `npm test`) would point the child npm at this checkout. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return { ...env, ...extra };
}

function npm(args: string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync('npm', args, { cwd, encoding: 'utf8', env: cleanEnv(), maxBuffer: 64 * 1024 * 1024 });
}

/** An install that failed because the registry cannot be reached says so; anything else is a failure. */
const OFFLINE = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH)\b/;

describe('installing the packed package', { timeout: 30 * 60 * 1000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'fsidmap-install-'));
  const prefix = join(tmp, 'prefix');
  const pkgDir = join(prefix, 'lib/node_modules/fsidmap');
  const bin = join(prefix, 'bin/fsidmap');
  let install: SpawnSyncReturns<string> | undefined;
  let tarball = '';
  let offline: string | undefined;

  before(() => {
    assert.ok(existsSync(join(repoRoot, 'dist/src/cli/main.js')), 'the checkout is built (npm run build) before it is packed');
    const pack = npm(['pack', '--pack-destination', tmp, '--loglevel=error'], repoRoot);
    assert.equal(pack.status, 0, pack.stderr);
    tarball = join(
      tmp,
      readdirSync(tmp).find((f) => f.endsWith('.tgz'))!,
    );
    // --foreground-scripts: the postinstall's line about the C stages is shown, as the README tells users to do.
    install = npm(['install', '-g', '--prefix', prefix, '--foreground-scripts', '--no-audit', '--no-fund', tarball], tmp);
    if (install.status !== 0 && OFFLINE.test(install.stderr))
      offline = `the npm registry is unreachable: ${OFFLINE.exec(install.stderr)![0]}`;
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('packs the built code, the C sources, the licence and the units, but no binaries of this machine', (t) => {
    const list = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    const files = list.stdout.split('\n');
    for (const f of [
      'package/dist/src/cli/main.js',
      'package/native/fsidmap-stage.c',
      'package/LICENSE',
      'package/systemd/fsidmap-broker.service',
    ])
      assert.ok(files.includes(f), `${f} is in the tarball`);
    assert.deepEqual(
      files.filter((f) => f.startsWith('package/dist/native/') || /\.test\.js$/.test(f)),
      [],
      'no prebuilt stages and no tests',
    );
    assert.match(readFileSync(join(repoRoot, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) \d{4} the fsidmap authors\n/);
    t.diagnostic(`${files.length - 1} files in ${tarball}`);
  });

  it('installs with npm install -g, building the C stages with the machine compiler', (t) => {
    if (offline) return t.skip(offline);
    assert.equal(install!.status, 0, `${install!.stdout}\n${install!.stderr}`);
    assert.match(install!.stdout + install!.stderr, /fsidmap: C stages built with \S+ into .*\/dist\/native/);
    for (const stage of ['fsidmap-stage', 'fsidmap-mount-lock', 'libfsidmap-tree.so'])
      assert.ok(existsSync(join(pkgDir, 'dist/native', stage)), `${stage} was built at install`);
  });

  it('gives a working fsidmap on the prefix PATH: --version, -V and the demo', (t) => {
    if (offline) return t.skip(offline);
    assert.ok(existsSync(bin), `${bin} exists`);
    const env = cleanEnv({ PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? ''}` });
    for (const flag of ['--version', '-V']) {
      const r = spawnSync('fsidmap', [flag], { encoding: 'utf8', env, cwd: tmp });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `fsidmap ${version}\n`);
    }
    const demo = spawnSync('fsidmap', ['demo', '--json'], { encoding: 'utf8', env, cwd: tmp });
    assert.equal(demo.status, 0, demo.stderr);
    const d = JSON.parse(demo.stdout) as { realSkipped: string | null; real: null | { left: { mounts: number; processes: number } } };
    if (process.getuid?.() === 0) {
      assert.equal(d.realSkipped, null, 'as root the demo runs its containers, with the stages built at install');
      assert.deepEqual(d.real?.left, { mounts: 0, processes: 0 });
    } else assert.match(d.realSkipped ?? '', /root/);
  });

  it("the broker unit runs fsidmap where npm install -g puts it with this machine's npm, or says how to point it there", (t) => {
    const unit = readFileSync(join(repoRoot, 'systemd/fsidmap-broker.service'), 'utf8');
    const exec = /^ExecStart=(\S+) broker /m.exec(unit);
    assert.ok(exec, 'ExecStart runs fsidmap broker');
    assert.match(unit, /systemctl edit fsidmap-broker\.service/, 'the unit says how to point it elsewhere');
    const prefix = spawnSync('npm', ['prefix', '-g'], { encoding: 'utf8', env: cleanEnv() }).stdout.trim();
    if (exec![1] !== join(prefix, 'bin/fsidmap')) return t.skip(`npm's global prefix here is ${prefix}, the unit names ${exec![1]}`);
    assert.equal(exec![1], join(prefix, 'bin/fsidmap'));
  });

  it('without a C compiler the build says what is missing and how to build it later, and does not fail', (t) => {
    if (offline) return t.skip(offline);
    const script = join(pkgDir, 'scripts/build-native.sh');
    const r = spawnSync('sh', [script, '--install'], { encoding: 'utf8', env: cleanEnv({ CC: 'fsidmap-test-no-such-cc' }) });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^fsidmap: no C compiler \(fsidmap-test-no-such-cc\) on this machine: the C stages were not built\./);
    assert.ok(r.stderr.includes(`sh ${script}`), 'names the script to run once there is one');
  });
});
