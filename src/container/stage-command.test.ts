import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DetachedMount } from '../kernel/index.js';
import type { CheckedInput, RunPlan } from './prepare.js';
import type { RunSpec } from './spec.js';
import { stageCommand, type StageCommandInput } from './stage-command.js';

const mount = (fd: number, source: string): DetachedMount => ({
  fd,
  source,
  maps: null,
  readonly: false,
  close() {
    /* not a real fd */
  },
});

const input: CheckedInput = {
  rootfs: '/srv/img',
  volumes: [
    { source: 'a', target: '/a', readonly: false, fsidmap: null, hostSource: '/srv/a', hostTarget: '/srv/img/a' },
    { source: 'b', target: '/b', readonly: true, fsidmap: null, hostSource: '/srv/b', hostTarget: '/srv/img/b' },
    { source: 'c', target: '/c', readonly: false, fsidmap: null, hostSource: '/srv/c', hostTarget: '/srv/img/c' },
  ],
  user: { uid: 1000, gid: 1000, groups: [1000, 50], name: 'alice', home: '/home/alice' },
  image: null,
  command: ['/bin/sh', '-c', 'id'],
  env: {},
  cwd: null,
};
const spec = { ids: { kind: 'allocate' }, fs: { kind: 'none' }, command: ['/bin/sh', '-c', 'id'], name: 'web' } as RunSpec;
const plan = { devptsGid: 5 } as RunPlan;
const base: StageCommandInput = {
  spec,
  name: 'web',
  input,
  plan,
  attach: 'host',
  hostEnv: { TERM: 'xterm' },
  mounts: { rootfs: mount(31, '/srv/img'), layers: [], rw: null, volumes: [mount(32, '/srv/a'), null, mount(33, '/srv/c')] },
};

describe('stageCommand', () => {
  test('mount fds are numbered from 4 in the order the arguments name them; a mount the port left out is bound by the stage', () => {
    const c = stageCommand(base);
    assert.deepEqual(c.fds, [31, 32, 33]);
    assert.deepEqual(c.args.slice(0, 9), [
      'run',
      '--rootfs',
      '/srv/img',
      '--root-fd',
      '4',
      '--volume',
      '5:/a',
      '--bind-volume',
      '/srv/b:/b:ro',
    ]);
    assert.deepEqual(c.args.slice(9, 11), ['--volume', '6:/c']);
    assert.deepEqual(c.args.slice(-6), ['--stop-timeout', '10', '--', '/bin/sh', '-c', 'id']);
    assert.ok(!c.args.includes('--attach'), 'root attaches before the user namespace (the default)');
    assert.equal(c.argv0, 'fsidmap-stage:web');
  });

  test("an ordinary user's port makes the stage attach inside", () => {
    const c = stageCommand({ ...base, attach: 'inside', mounts: { rootfs: null, layers: [], rw: null, volumes: [null, null, null] } });
    assert.deepEqual(c.args.slice(0, 5), ['run', '--attach', 'inside', '--rootfs', '/srv/img']);
    assert.deepEqual(c.fds, []);
    assert.equal(c.args.filter((a) => a === '--bind-volume').length, 3);
  });

  test('user, groups, hostname, devpts group and the environment', () => {
    const c = stageCommand({
      ...base,
      spec: { ...spec, hostname: 'h1', stopTimeout: 3 },
      hostEnv: { FSIDMAP_TEST_STAGE_FAULT: 'fail:attach' },
    });
    const at = c.args.indexOf('--hostname');
    assert.deepEqual(c.args.slice(at, at + 10), [
      '--hostname',
      'h1',
      '--uid',
      '1000',
      '--gid',
      '1000',
      '--groups',
      '1000,50',
      '--devpts-gid',
      '5',
    ]);
    assert.deepEqual(c.args.slice(at + 10, at + 14), ['--fault', 'fail:attach', '--stop-timeout', '3']);
    assert.deepEqual(c.env, {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/home/alice',
      HOSTNAME: 'h1',
      container: 'fsidmap',
      USER: 'alice',
      LOGNAME: 'alice',
    });
    assert.equal(stageCommand(base).env.TERM, 'xterm');
  });
});
