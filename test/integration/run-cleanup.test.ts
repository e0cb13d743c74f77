// fsidmap run as a process: exit statuses, signals, and total cleanup after
// normal exit, SIGTERM, SIGKILL of fsidmap, and setup failures at every step.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, cliPath, makeToyImage, marker, mountsUnder, processesWith, rootSkip, tempDir, until } from './support/run-fixtures.js';

describe('fsidmap run: exit statuses, signals and cleanup', { skip: rootSkip }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let image: string;
  let runDir: string;
  let env: NodeJS.ProcessEnv;
  before(() => {
    tmp = tempDir('cleanup');
    image = join(tmp.dir, 'image');
    mkdirSync(image);
    makeToyImage(image, 300000);
    runDir = join(tmp.dir, 'run');
    env = { FSIDMAP_RUN_DIR: runDir };
  });
  after(() => tmp.remove());

  const base = () => ['run', '--idmap', '0:100000:65536', '--fsidmap', '0:300000:65536', '--rootfs', image];

  /** Nothing of the run is left: no process carrying the tag, no holder of that fsidmap pid, no mount, no state file. */
  async function assertClean(tag: string, fsidmapPid?: number): Promise<void> {
    await until(`processes tagged ${tag} to be gone`, () => processesWith(tag).length === 0, 5000).catch(() => undefined);
    assert.deepEqual(processesWith(tag), [], 'no container process left');
    if (fsidmapPid !== undefined) assert.deepEqual(processesWith(`fsidmap-stage:hold:${fsidmapPid}`), [], 'no user-namespace holder left');
    assert.deepEqual(mountsUnder(tmp.dir), [], 'nothing left in the host mount table');
    const states = existsSync(join(runDir, 'containers')) ? readdirSync(join(runDir, 'containers')).filter((f) => f.includes(tag)) : [];
    assert.deepEqual(states, [], 'no state file left');
  }

  /** Starts the CLI in the background; resolves once its stdout shows `ready`. */
  function startCli(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
    const child = spawn(process.execPath, [cliPath, ...args], {
      env: { ...process.env, ...env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '',
      stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.on('close', (code, signal) => r({ code, signal })),
    );
    return { child, done, out: () => stdout, err: () => stderr };
  }

  for (const [script, status] of [
    ['exit 0', 0],
    ['exit 42', 42],
    ['kill -TERM $$', 143],
    ['kill -KILL $$', 137],
    ['kill -INT $$', 130],
  ] as const) {
    it(`propagates CMD's exit status: "${script}" → ${status}`, async () => {
      const tag = marker('status');
      const r = await cli([...base(), '--name', tag, '--', '/bin/sh', '-c', `${script}; : ${tag}`], env);
      assert.equal(r.code, status, r.stderr);
      await assertClean(tag);
    });
  }

  it('passes stdin, stdout and stderr through', async () => {
    const tag = marker('stdio');
    const r = await cli(
      [...base(), '--name', tag, '--', '/bin/sh', '-c', `read line; echo "got $line"; echo to-stderr >&2; : ${tag}`],
      env,
      'hello\n',
    );
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'got hello\n');
    assert.equal(r.stderr, 'to-stderr\n');
  });

  for (const [signal, status] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
    ['SIGHUP', 129],
  ] as const) {
    it(`stops the container on ${signal} (CMD gets it) and leaves nothing behind`, async () => {
      const tag = marker('stop');
      const run = startCli([...base(), '--name', tag, '--', '/bin/sh', '-c', `echo ready; sleep 1000; : ${tag}`]);
      await until('the container to run', () => run.out().includes('ready'));
      assert.ok(processesWith(tag).length >= 3, 'fsidmap, stage, init and CMD are running');
      run.child.kill(signal);
      const r = await run.done;
      assert.equal(r.code, status, run.err());
      await assertClean(tag, run.child.pid);
    });
  }

  it('on a terminal, Ctrl-C reaches CMD alone: an interactive shell survives it', async () => {
    const tag = marker('tty');
    // util-linux's script(1) gives fsidmap a pseudo-terminal, as a user's terminal would.
    const cmd = [process.execPath, cliPath, ...base(), '--name', tag, '--', '/bin/sh', '-i'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    const done = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    child.stdin.write('echo one-$((1+1))\n');
    await until('the shell to answer', () => out.includes('one-2'));
    child.stdin.write('sleep 30\n');
    await until('sleep to run inside', () => processesWith('sleep 30').length > 0 || out.includes('sleep 30'));
    await new Promise((r) => setTimeout(r, 300));
    child.stdin.write('\x03');
    await new Promise((r) => setTimeout(r, 300));
    child.stdin.write('echo two-$((2+1))\n');
    await until('the shell to survive Ctrl-C', () => out.includes('two-3'));
    child.stdin.write('exit 5\n');
    assert.equal(await done, 5, out);
    await assertClean(tag);
  });

  it('SIGKILLs a container that ignores the stop signal after FSIDMAP_STOP_TIMEOUT', async () => {
    const tag = marker('stubborn');
    const run = startCli(
      [...base(), '--name', tag, '--', '/bin/sh', '-c', `trap "" TERM; echo ready; while :; do sleep 0.1; done; : ${tag}`],
      { FSIDMAP_STOP_TIMEOUT: '1' },
    );
    await until('the container to run', () => run.out().includes('ready'));
    const t0 = Date.now();
    run.child.kill('SIGTERM');
    const r = await run.done;
    assert.equal(r.code, 137, run.err());
    assert.ok(Date.now() - t0 >= 900, 'waited for the stop timeout');
    await assertClean(tag, run.child.pid);
  });

  it('takes the whole container down when fsidmap itself is SIGKILLed', async () => {
    const tag = marker('kill9');
    const run = startCli([...base(), '--name', tag, '--', '/bin/sh', '-c', `echo ready; sleep 1000; : ${tag}`]);
    await until('the container to run', () => run.out().includes('ready'));
    run.child.kill('SIGKILL');
    await run.done;
    await until('the container to die with fsidmap', () => processesWith(tag).length === 0, 5000);
    assert.deepEqual(mountsUnder(tmp.dir), []);
    // Its state file is stale now, and the name can be used again.
    const again = await cli([...base(), '--name', tag, '--', '/bin/true'], env);
    assert.equal(again.code, 0, again.stderr);
    await assertClean(tag);
  });

  it("refuses a second container with a running one's name, and touches nothing", async () => {
    const tag = marker('name');
    const run = startCli([...base(), '--name', tag, '--', '/bin/sh', '-c', `echo ready; sleep 1000; : ${tag}`]);
    await until('the container to run', () => run.out().includes('ready'));
    const second = await cli([...base(), '--name', tag, '--', '/bin/true'], env);
    assert.equal(second.code, 1);
    run.child.kill('SIGTERM');
    await run.done;
    await assertClean(tag);
  });

  // Every step of the stage's setup, failed on purpose (the stage's --fault test hook): the run
  // reports the failure (status 1) and whatever was made before it is gone.
  for (const step of ['attach', 'unshare', 'setid', 'mount-proc', 'mount-dev', 'pivot-root', 'setuid', 'fork-cmd']) {
    it(`cleans up after a setup failure at ${step}`, async () => {
      const tag = marker(`fail-${step}`);
      const run = startCli([...base(), '--name', tag, '--', '/bin/sh', '-c', `echo ran; : ${tag}`], {
        FSIDMAP_TEST_STAGE_FAULT: `fail:${step}`,
      });
      const r = await run.done;
      assert.equal(r.code, 1, run.err());
      assert.equal(run.out(), '', 'CMD never ran');
      assert.match(run.err(), new RegExp(`setup failed at ${step}`));
      await assertClean(tag, run.child.pid);
    });
  }

  for (const step of ['attach', 'setid', 'mount-dev', 'fork-cmd']) {
    it(`cleans up when SIGTERM arrives during setup (stage held at ${step})`, async () => {
      const tag = marker(`pause-${step}`);
      const run = startCli([...base(), '--name', tag, '--', '/bin/sh', '-c', `echo ran; : ${tag}`], {
        FSIDMAP_TEST_STAGE_FAULT: `pause:${step}`,
      });
      await until('the stage to be held', () => processesWith(`fsidmap-stage:${tag}`).length > 0);
      await new Promise((r) => setTimeout(r, 100));
      run.child.kill('SIGTERM');
      const r = await run.done;
      assert.equal(r.code, 143, run.err());
      assert.equal(run.out(), '');
      await assertClean(tag, run.child.pid);
    });
  }

  it('cleans up when a volume fails half-way (rootfs mount and holder made, volume on a filesystem without idmapping)', async () => {
    const tag = marker('ramfs');
    const ramfs = join(tmp.dir, 'ramfs');
    mkdirSync(ramfs);
    const { execFileSync } = await import('node:child_process');
    execFileSync('mount', ['-t', 'ramfs', `fsidmap-test-${tag}`, ramfs]);
    try {
      execFileSync('chown', ['300000:300000', ramfs]);
      const run = startCli([...base(), '--name', tag, '--volume', `${ramfs}:/data`, '--', '/bin/sh', '-c', `echo ran; : ${tag}`]);
      const r = await run.done;
      assert.equal(r.code, 1);
      assert.match(run.err(), /ramfs filesystem .* does not support idmapped mounts/);
      assert.deepEqual(processesWith(`fsidmap-stage:hold:${run.child.pid}`), []);
      assert.deepEqual(processesWith(tag), []);
    } finally {
      execFileSync('umount', [ramfs]);
    }
    assert.deepEqual(mountsUnder(tmp.dir), []);
  });
});
