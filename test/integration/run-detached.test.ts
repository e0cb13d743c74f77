// run -d and what goes with it on the real kernel: the container outlives
// fsidmap, ps lists it, exec joins it, stop/kill end it, logs keep its
// output, a killed supervisor leaves only stale state, and -t relays a pty.
import assert from 'node:assert/strict';
import { chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { copyProgram } from '../../src/container/sample-image.js';
import {
  cli,
  cliPath,
  makeToyImage,
  mountsUnder,
  processesMapping,
  processesWith,
  rootSkip,
  tempDir,
  until,
} from './support/run-fixtures.js';
import { ptySession } from './support/pty-session.js';

interface PsRow {
  name: string;
  status: string;
  pid: number | null;
  supervisor: number | null;
  uidMap: string | null;
  fs: string | null;
  detached: boolean;
  network: string | null;
}

describe('fsidmap run -d, ps, exec, stop, kill, logs', { skip: rootSkip }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let image: string;
  let runDir: string;
  let env: NodeJS.ProcessEnv;
  before(() => {
    tmp = tempDir('detached');
    image = join(tmp.dir, 'image');
    mkdirSync(image);
    makeToyImage(image, 300000);
    for (const p of ['tty', 'stty']) copyProgram(image, p);
    runDir = join(tmp.dir, 'run');
    env = { FSIDMAP_RUN_DIR: runDir };
  });
  after(async () => {
    // A failed test may have left its container running: its supervisor goes, and the container with it.
    for (const r of await ps(true).catch(() => [])) if (r.supervisor) process.kill(r.supervisor, 'SIGKILL');
    tmp.remove();
  });

  // Each test its own range, so the leftover checks (processes mapping it) see only its own container.
  const idmap = (n: number) => `0:${100000 + n * 65536}:65536`;
  const base = (name: string, n: number) => [
    'run',
    '-d',
    '--name',
    name,
    '--idmap',
    idmap(n),
    '--fsidmap',
    '0:300000:65536',
    '--rootfs',
    image,
  ];
  const forever = ['sh', '-c', 'echo started; while true; do sleep 1; done'];

  async function ps(all = false): Promise<PsRow[]> {
    const r = await cli(['ps', '--json', ...(all ? ['-a'] : [])], env);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as PsRow[];
  }

  async function start(name: string, n: number, extra: string[] = [], cmd = forever): Promise<PsRow> {
    const r = await cli([...base(name, n), ...extra, '--', ...cmd], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${name}\n`, 'run -d prints the name');
    const row = (await ps()).find((x) => x.name === name);
    assert.ok(row, `${name} is listed by ps`);
    return row;
  }

  /** Nothing of the container is left: no process in its range, no stage, no mount, no state file. */
  async function assertClean(name: string, n: number): Promise<void> {
    await until(`${name}'s processes to be gone`, () => processesMapping(100000 + n * 65536).length === 0, 10000).catch(() => undefined);
    assert.deepEqual(processesMapping(100000 + n * 65536), [], 'no process of the container left');
    assert.deepEqual(processesWith(`fsidmap-stage:${name}\0`), [], 'no stage left');
    assert.deepEqual(mountsUnder(tmp.dir), [], 'nothing in the host mount table');
    assert.equal(existsSync(join(runDir, 'containers', `${name}.json`)), false, 'no state file left');
  }

  it('a detached container outlives fsidmap, is listed by ps, and its state is private and pinned to this boot and init', async () => {
    const row = await start('d1', 1);
    assert.equal(row.status, 'running');
    assert.equal(row.uidMap, `0 ${100000 + 65536} 65536`);
    assert.equal(row.fs, '0 300000 65536');
    assert.equal(row.detached, true);
    assert.equal(row.network, 'host');
    // fsidmap run -d has exited (cli() waited for it); init and its supervisor still run, in their own session.
    const init = row.pid!;
    assert.equal(readFileSync(`/proc/${init}/uid_map`, 'utf8').trim().split(/\s+/).join(' '), `0 ${100000 + 65536} 65536`);
    const sid = readFileSync(`/proc/${row.supervisor}/stat`, 'latin1').split(') ')[1].split(' ')[3];
    assert.equal(Number(sid), row.supervisor, 'the supervisor leads a session of its own (setsid)');
    const statePath = join(runDir, 'containers', 'd1.json');
    assert.equal(statSync(statePath).mode & 0o777, 0o644, 'the state is for views of the host (serve as nobody) to list');
    assert.equal(statSync(join(runDir, 'containers', 'd1.env')).mode & 0o777, 0o600, "CMD's environment (exec's) is root's only");
    assert.deepEqual((JSON.parse(readFileSync(statePath, 'utf8')) as { exec: { env: object } }).exec.env, {}, 'and not in the state');
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as { bootId: string; initStart: string; initPid: number };
    assert.equal(state.bootId, readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    assert.equal(state.initPid, init);
    assert.equal(state.initStart, readFileSync(`/proc/${init}/stat`, 'latin1').split(') ')[1].split(' ')[19]);
    await until('the log to show the output', () => readFileSync(join(runDir, 'logs', 'd1.log'), 'utf8').includes('started'));
    const logs = await cli(['logs', 'd1'], env);
    assert.equal(logs.stdout, 'started\n');
    const again = await cli([...base('d1', 1), '--', 'true'], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already running/);
    const stop = await cli(['stop', 'd1'], env);
    assert.equal(stop.code, 0, stop.stderr);
    await assertClean('d1', 1);
    assert.deepEqual(await ps(true), [], 'ps -a shows nothing once it stopped');
  });

  it('exec joins the pid namespace, mounts, ids, root and environment of the container', async () => {
    const row = await start('d2', 2, ['--env', 'GREETING=hi', '--workdir', '/opt']);
    const init = row.pid!;
    const exec = (args: string[]) => cli(['exec', ...args], env);
    const uidMap = await exec(['d2', 'cat', '/proc/self/uid_map']);
    assert.equal(uidMap.code, 0, uidMap.stderr);
    assert.equal(uidMap.stdout, readFileSync(`/proc/${init}/uid_map`, 'utf8'), "the exec's uid_map is the container's");
    const ns = await exec([
      'd2',
      'readlink',
      '/proc/self/ns/pid',
      '/proc/self/ns/mnt',
      '/proc/self/ns/user',
      '/proc/self/ns/uts',
      '/proc/self/ns/ipc',
    ]);
    assert.equal(
      ns.stdout,
      ['pid', 'mnt', 'user', 'uts', 'ipc'].map((k) => readlinkSync(`/proc/${init}/ns/${k}`) + '\n').join(''),
      "the exec's namespaces are init's",
    );
    const mounts = await exec(['d2', 'cat', '/proc/self/mountinfo']);
    assert.equal(mounts.stdout, readFileSync(`/proc/${init}/mountinfo`, 'utf8'), 'the same mounts, seen from the same root');
    const one = await exec(['d2', 'cat', '/proc/1/cmdline']);
    assert.equal(one.stdout, readFileSync(`/proc/${init}/cmdline`, 'latin1'), "its pid 1 is the container's init");
    const who = await exec(['d2', 'sh', '-c', 'id -u; id -g; pwd; echo $GREETING; stat -c %u:%g /etc/passwd']);
    assert.equal(who.stdout, '0\n0\n/opt\nhi\n0:0\n', "CMD's user, workdir and environment; files at the fsid map show as 0");
    const alice = await exec([
      '--user',
      'alice',
      '--workdir',
      '/home/alice',
      '--env',
      'GREETING=yo',
      'd2',
      'sh',
      '-c',
      'id -u; pwd; echo $GREETING $HOME; touch made',
    ]);
    assert.equal(alice.stdout, '1000\n/home/alice\nyo /home/alice\n', alice.stderr);
    assert.equal(lstatSync(join(image, 'home/alice/made')).uid, 301000, 'what an exec writes lands at the fsid map');
    // Options end at NAME: what follows is CMD's, -c and all.
    const opts = await exec(['d2', 'sh', '-c', 'echo $0 $1', '--user', 'x']);
    assert.equal(opts.stdout, '--user x\n');
    const status = await exec(['d2', 'sh', '-c', 'exit 7']);
    assert.equal(status.code, 7);
    const missing = await exec(['d2', 'no-such-cmd']);
    assert.equal(missing.code, 127);
    const unmapped = await exec(['--user', '70000', 'd2', 'true']);
    assert.equal(unmapped.code, 1);
    assert.match(unmapped.stderr, /not mapped by the container's id map/);
    const nobody = await exec(['nope', 'true']);
    assert.equal(nobody.code, 1);
    assert.match(nobody.stderr, /no container named "nope" is running/);
    assert.equal((await cli(['stop', 'd2'], env)).code, 0);
    await assertClean('d2', 2);
  });

  it('stop sends SIGTERM, then SIGKILL after --time to a container that traps TERM; --rm leaves no log', async () => {
    const vol = join(tmp.dir, 'vol3');
    mkdirSync(vol);
    chownSync(vol, 300000, 300000);
    await start(
      'd3',
      3,
      ['--rm', '--volume', `${vol}:/shared`],
      ['sh', '-c', 'trap "echo TERM > /shared/got" TERM; while true; do sleep 1; done'],
    );
    const stop = await cli(['stop', '--time', '3', 'd3'], env);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout, 'd3 (killed after 3s)\n', 'it had to be killed');
    assert.equal(readFileSync(join(vol, 'got'), 'utf8'), 'TERM\n', 'CMD got SIGTERM first');
    await assertClean('d3', 3);
    assert.equal(existsSync(join(runDir, 'logs', 'd3.log')), false);
    // A CMD that does not trap TERM just ends: no SIGKILL needed.
    await start('d3b', 3, [], ['sleep', '1000']);
    const quick = await cli(['stop', '--time', '30', 'd3b'], env);
    assert.equal(quick.stdout, 'd3b\n');
    await assertClean('d3b', 3);
  });

  it('kill passes a signal to CMD; KILL ends the container; its supervisor cleans up', async () => {
    const vol = join(tmp.dir, 'vol4');
    mkdirSync(vol);
    chownSync(vol, 300000, 300000);
    await start('d4', 4, ['--volume', `${vol}:/shared`], ['sh', '-c', 'trap "echo HUP >> /shared/got" HUP; while true; do sleep 1; done']);
    assert.equal((await cli(['kill', 'd4', 'HUP'], env)).code, 0);
    await until('CMD to see SIGHUP', () => existsSync(join(vol, 'got')));
    assert.deepEqual(
      (await ps()).map((r) => r.status),
      ['running'],
      'HUP did not end it',
    );
    assert.equal((await cli(['kill', 'd4'], env)).code, 0);
    await until('the state to go', () => !existsSync(join(runDir, 'containers', 'd4.json')));
    await assertClean('d4', 4);
    const bad = await cli(['kill', 'd4', 'NOSUCH'], env);
    assert.equal(bad.code, 2, 'not a signal: bad input');
    const gone = await cli(['kill', 'd4', 'TERM'], env);
    assert.equal(gone.code, 1, 'not running');
  });

  it('a SIGKILLed supervisor takes the container with it and leaves state that ps shows as stale, never running', async () => {
    const row = await start('d5', 5);
    process.kill(row.supervisor!, 'SIGKILL');
    await until('the container to die with its supervisor', () => processesMapping(100000 + 5 * 65536).length === 0, 15000);
    assert.deepEqual(await ps(), [], 'ps without -a does not list it');
    const all = await ps(true);
    assert.deepEqual(
      all.map((r) => [r.name, r.status, r.pid]),
      [['d5', 'stale', null]],
    );
    const exec = await cli(['exec', 'd5', 'true'], env);
    assert.equal(exec.code, 1);
    assert.match(exec.stderr, /not running: its state was left by an fsidmap that was killed/);
    // The name is free again: a new run takes the stale state over.
    const row2 = await start('d5', 5);
    assert.equal(row2.status, 'running');
    process.kill(row2.supervisor!, 'SIGKILL');
    await until('the second container to die', () => processesMapping(100000 + 5 * 65536).length === 0, 15000);
    const stop = await cli(['stop', 'd5'], env);
    assert.equal(stop.stdout, 'd5 (stale state removed)\n');
    await assertClean('d5', 5);
  });

  it('state from an earlier boot is stale even when its pids run now', async () => {
    // A state file as a container of the last boot left it, whose pids happen to be live processes now (ours).
    const { processStart } = await import('../../src/container/state.js');
    mkdirSync(join(runDir, 'containers'), { recursive: true });
    const me = { pid: process.pid, pidStart: processStart(process.pid), initPid: process.pid, initStart: processStart(process.pid) };
    const old = { name: 'd6', ...me, stagePid: null, rootfs: null, uidMap: '0 100000 65536', gidMap: '0 100000 65536' };
    writeFileSync(
      join(runDir, 'containers', 'd6.json'),
      JSON.stringify({ ...old, startedAt: new Date().toISOString(), bootId: '00000000-0000-0000-0000-000000000000' }),
      { mode: 0o600 },
    );
    assert.deepEqual(
      (await ps(true)).map((r) => [r.name, r.status]),
      [['d6', 'stale']],
    );
    assert.equal((await cli(['kill', 'd6', 'CONT'], env)).code, 1, 'no signal reaches a stale container');
    assert.equal((await cli(['stop', 'd6'], env)).stdout, 'd6 (stale state removed)\n');
    assert.deepEqual(readdirSync(join(runDir, 'containers')), []);
  });

  it('logs -f follows the output until the container exits', async () => {
    await start('d7', 7, [], ['sh', '-c', 'for i in 1 2 3; do echo line $i; sleep 0.3; done; echo done >&2']);
    const f = await cli(['logs', '-f', 'd7'], env);
    assert.equal(f.stdout, 'line 1\nline 2\nline 3\ndone\n');
    await assertClean('d7', 7);
    assert.equal((await cli(['logs', 'd7'], env)).stdout, 'line 1\nline 2\nline 3\ndone\n', 'the log stays after exit (no --rm)');
  });

  it('run -d reports what the supervisor refuses, and leaves nothing', async () => {
    const r = await cli([...base('d8', 8), '--', 'no-such-cmd'], env);
    assert.equal(r.code, 127, 'as a foreground run answers');
    assert.match(r.stderr, /no-such-cmd: no such executable/);
    await assertClean('d8', 8);
    const both = await cli([...base('d8', 8), '-t', '--', 'true'], env);
    assert.equal(both.code, 2);
  });

  it('--network none: a network namespace of its own with loopback up; the default stays the host network', async () => {
    const own = await cli(
      [
        'run',
        '--network',
        'none',
        '--idmap',
        idmap(9),
        '--rootfs',
        image,
        '--',
        'sh',
        '-c',
        'readlink /proc/self/ns/net; cat /proc/net/dev; echo --; cat /proc/net/fib_trie',
      ],
      env,
    );
    assert.equal(own.code, 0, own.stderr);
    const [netns, ...rest] = own.stdout.split('\n');
    assert.notEqual(netns, readlinkSync('/proc/self/ns/net'));
    const [dev, fib] = rest.join('\n').split('--\n');
    const ifaces = dev
      .split('\n')
      .filter((l) => /^\s*\w+:/.test(l))
      .map((l) => l.trim().split(':')[0]);
    assert.deepEqual(ifaces, ['lo'], 'only loopback');
    assert.match(fib, /127\.0\.0\.1/, 'loopback is up (its local route exists)');
    const host = await cli(['run', '--idmap', idmap(9), '--rootfs', image, '--', 'readlink', '/proc/self/ns/net'], env);
    assert.equal(host.stdout.trim(), readlinkSync('/proc/self/ns/net'));
    // exec joins the container's own network namespace too.
    await start('d9', 9, ['--network', 'none']);
    const row = (await ps()).find((r) => r.name === 'd9')!;
    assert.equal(row.network, 'none');
    const ex = await cli(['exec', 'd9', 'readlink', '/proc/self/ns/net'], env);
    assert.equal(ex.stdout.trim(), readlinkSync(`/proc/${row.pid}/ns/net`));
    assert.equal((await cli(['stop', 'd9'], env)).code, 0);
    await assertClean('d9', 9);
  });

  const interactive = (prompt: string, sleepFor: number) => [
    { expect: prompt },
    { send: 'tty; echo T-$?\n' },
    { expect: 'T-0' },
    { send: 'stty size\n' },
    { expect: '30 100' },
    { resize: [40, 120] as [number, number] },
    { send: 'stty size\n' },
    { expect: '40 120' },
    { send: `sleep ${sleepFor}\n` },
    { running: ['sleep', String(sleepFor)] },
    { send: '\x03' },
    // The line discipline flushes pending input on ^C: the next line goes after the new prompt.
    { expect: prompt },
    { send: 'echo S-$?\n' },
    { expect: 'S-130' },
    { send: 'exit 7\n' },
  ];

  it('exec -t: an interactive shell on a pty of the container, with resizes and Ctrl-C', async () => {
    await start('d10', 10, [], ['sleep', '100000']);
    const r = await ptySession([process.execPath, cliPath, 'exec', '-t', 'd10', 'sh'], interactive('# ', 4242), env, [30, 100]);
    assert.equal(r.failed, null, `expected output did not come; got: ${r.out}`);
    assert.equal(r.status, 7);
    assert.match(r.out, /\/dev\/pts\/0\r\n/, "a pty of the container's own devpts (a new instance, numbered from 0)");
    assert.equal((await cli(['stop', 'd10'], env)).code, 0);
    await assertClean('d10', 10);
  });

  it('run -t: CMD on a pty of the container, relayed to the caller', async () => {
    const r = await ptySession(
      [
        process.execPath,
        cliPath,
        'run',
        '-t',
        '--name',
        'd11',
        '--idmap',
        idmap(11),
        '--fsidmap',
        '0:300000:65536',
        '--rootfs',
        image,
        '--',
        'sh',
      ],
      interactive('# ', 4243),
      env,
      [30, 100],
    );
    assert.equal(r.failed, null, `expected output did not come; got: ${r.out}`);
    assert.equal(r.status, 7);
    assert.match(r.out, /\/dev\/pts\/0\r\n/);
    await assertClean('d11', 11);
  });
});
