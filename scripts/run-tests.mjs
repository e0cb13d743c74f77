// Runs every compiled test file with node:test (its summary is what CI reads).
// Unit tests sit beside the source (dist/src/**/*.test.js); root and
// real-kernel tests are in dist/test/integration.
//
// Some tests run this checkout's CLI as unprivileged test users. When the
// checkout sits under a directory those users cannot search (a clone in
// /root, say), the runner bind-mounts it at a reachable path for the run and
// runs the tests from there; the mount is removed when the run ends.
import { mkdtempSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir, out = []) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries.sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

/** Whether user nobody can read files of this checkout (root only: setpriv needs CAP_SETUID). */
function reachableByOthers(root) {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'test', '-r', join(root, 'package.json')]);
  return r.status === 0;
}

const root = resolve('.');
let cwd = root;
let mountPoint;
if (process.getuid?.() === 0 && !reachableByOthers(root)) {
  mountPoint = mkdtempSync('/tmp/fsidmap-checkout-');
  const m = spawnSync('mount', ['--bind', root, mountPoint], { stdio: 'inherit' });
  if (m.status !== 0) {
    console.error(`run-tests: cannot bind-mount ${root} for the unprivileged tests`);
    process.exit(1);
  }
  spawnSync('chmod', ['755', mountPoint]);
  console.log(`run-tests: ${root} is not reachable by other users; running the tests from a bind mount at ${mountPoint}`);
  cwd = mountPoint;
}

let status = 1;
try {
  const filter = process.argv.slice(2);
  let files = [...find(join(cwd, 'dist/src')), ...find(join(cwd, 'dist/test'))];
  if (filter.length > 0) files = files.filter((f) => filter.some((s) => f.includes(s)));
  if (files.length === 0) {
    console.error('run-tests: no test files found (did the build run?)');
  } else {
    const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], { stdio: 'inherit', cwd });
    status = r.status ?? 1;
  }
} finally {
  if (mountPoint) {
    spawnSync('umount', ['--lazy', mountPoint], { stdio: 'inherit' });
    try {
      rmdirSync(mountPoint);
    } catch {
      /* left for the next boot's tmp cleaning */
    }
  }
}
process.exit(status);
