// fsidmap serve and report at the command line: flags, errors before
// anything starts, the Unix socket, the warning for a non-loopback address,
// and a clean stop on SIGTERM.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', '..', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'fsidt5-serve-cli-'));
chmodSync(dir, 0o755);
const db = join(dir, 'registry.db');
const env = { PATH: process.env.PATH, FSIDMAP_DB: db, FSIDMAP_RUN_DIR: join(dir, 'run'), HOME: dir };
after(() => rmSync(dir, { recursive: true, force: true }));

const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env });

function start(args: string[]): Promise<{ child: ChildProcess; out: string; err: () => string }> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve({ child, out, err: () => err });
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

const stop = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });

test('serve/report: usage errors and an unreadable registry are refused before anything starts', () => {
  const both = run(['serve', '--listen', '127.0.0.1:0', '--socket', join(dir, 's')]);
  assert.equal(both.status, 2);
  assert.match(both.stderr, /--listen and --socket exclude each other/);
  assert.equal(run(['serve', '--listen', 'nonsense']).status, 2);
  assert.equal(run(['serve', '--interval', '5']).status, 2);
  assert.equal(run(['report']).status, 2);
  const missing = run(['report', '--html', '-', '--db', join(dir, 'nope.db'), '--json']);
  assert.equal(missing.status, 1);
  assert.equal(JSON.parse(missing.stderr).error.code, 'ERR_DB_UNREACHABLE');
  assert.ok(!existsSync(join(dir, 'nope.db')), 'a read-only open creates nothing');
  assert.match(run(['serve', '--help']).stdout, /--socket PATH/);
});

test('serve: a Unix socket (mode 0600) serves the page; SIGTERM stops it with status 0', async () => {
  assert.equal(run(['alloc', 'sock-a']).status, 0);
  const path = join(dir, 'serve.sock');
  const s = await start(['--socket', path, '--json']);
  const info = JSON.parse(s.out) as { url: string; local: boolean };
  assert.equal(info.local, true);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const page = spawnSync('curl', ['-s', '--unix-socket', path, 'http://localhost/api/space'], { encoding: 'utf8' });
  assert.deepEqual((JSON.parse(page.stdout) as { allocations: { name: string[] } }).allocations.name, ['sock-a']);
  assert.equal(await stop(s.child), 0);
  // A socket left behind by a server that is gone is taken over by the next one.
  const again = await start(['--socket', path]);
  assert.equal(await stop(again.child), 0);
});

test('serve: an address other machines reach is served only when named, with a warning', async () => {
  const s = await start(['--listen', '0.0.0.0:0', '--json']);
  const info = JSON.parse(s.out) as { url: string; local: boolean; listen: { port: number } };
  assert.equal(info.local, false);
  assert.ok(info.listen.port > 0);
  await new Promise((r) => setTimeout(r, 200));
  assert.match(s.err(), /WARNING: listening on http:\/\/0\.0\.0\.0:\d+\/, an address other machines can reach/);
  // Not loopback: no Host check (the operator chose to expose it); still read-only.
  const post = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', `http://127.0.0.1:${info.listen.port}/`], {
    encoding: 'utf8',
  });
  assert.equal(post.stdout, '405');
  assert.equal(await stop(s.child), 0);
});
