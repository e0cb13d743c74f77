// fsidmap run on an image's layers (overlayfs over idmapped layers, mounted
// from inside the container's user namespace): two containers in different
// ranges at once, each with only its own changes; the layers untouched;
// the writable layer stored at the image's ids; kept containers restarted in
// another range still owning their files; nothing left mounted.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { type Container, type ImageRunConfig, type RunSpec, readSaved, savedPaths, startContainer } from '../../src/container/index.js';
import { parseMap } from '../../src/idmap/index.js';
import { imageOf, makeLayers, treeSum } from './support/layer-fixtures.js';
import { cli, collect, marker, mountsUnder, processesWith, rootSkip, tempDir, until } from './support/run-fixtures.js';

const pair = (spec: string) => {
  const m = parseMap(spec);
  return { uid: m, gid: m };
};

function section(out: string, name: string): string {
  const m = new RegExp(`^== ${name}\\n([\\s\\S]*?)(?=^== |$(?![\\s\\S]))`, 'm').exec(out);
  return (m?.[1] ?? '').trim();
}

/** Mount entries of the host whose root or mount point mentions dir, and overlays made from it. */
function leaks(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(dir));
}

describe('fsidmap run --image: overlay over idmapped layers', { skip: rootSkip }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let env: NodeJS.ProcessEnv;
  let layers: { l1: string; l2: string };
  let sums: [string, string];
  before(() => {
    tmp = tempDir('image');
    env = { ...process.env, FSIDMAP_STATE_DIR: join(tmp.dir, 'state'), FSIDMAP_RUN_DIR: join(tmp.dir, 'run') };
    layers = makeLayers(tmp.dir);
    sums = [treeSum(layers.l1), treeSum(layers.l2)];
  });
  after(() => {
    assert.deepEqual(mountsUnder(tmp.dir), []);
    assert.deepEqual(leaks(tmp.dir), []);
    tmp.remove();
  });
  const image = (config: ImageRunConfig = {}) => imageOf([layers.l1, layers.l2], config);
  const spec = (name: string | undefined, idmap: string, script: string, more: Partial<RunSpec> = {}): RunSpec => ({
    ...(name !== undefined ? { name } : {}),
    ids: { kind: 'maps', maps: pair(idmap) },
    fs: { kind: 'none' },
    image: image(),
    command: ['/bin/sh', '-c', script],
    ...more,
  });
  // A failed assertion must not leave a container waiting on its stdin: every one is killed after its test.
  const started: Container[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((c) => c.kill()));
  });
  const start = async (s: RunSpec): Promise<Container> => {
    const c = await startContainer(s, { stdio: ['pipe', 'pipe', 'pipe'], env });
    started.push(c);
    return c;
  };

  it('two containers from the same layers in different ranges at once each see only their own changes', async () => {
    const tag = marker('two');
    const script = (who: string) => `
echo "== ids"; read a b c < /proc/self/uid_map; echo $a $b $c; id -u
echo "== layers"; cat /etc/motd; ls /data; test -e /opt/seven && echo seven || echo no-seven
echo ${who} > /root/by-${who}; mkdir -p /srv/${who}; echo x > /srv/${who}/f; chown 7:8 /srv/${who}/f
echo changed-${who} > /etc/motd; rm /data/new; rm /etc/group
read go
echo "== root"; ls /root
echo "== motd"; cat /etc/motd
echo "== data"; ls -A /data
echo "== group"; test -e /etc/group && echo group || echo no-group
echo "== owners"; stat -c '%u:%g' /root/by-${who} /srv/${who}/f
: ${tag}`;
    const a = await start(spec(`${tag}-A`, '0:100000:65536', script('A')));
    const b = await start(spec(`${tag}-B`, '0:200000:65536', script('B')));
    const ra = collect(a),
      rb = collect(b);
    // Both have made their changes before either looks.
    await until('both containers changed their layers', () =>
      ['A', 'B'].every((w) => existsSync(join(savedPaths(`${tag}-${w}`, env).upper, 'etc/group'))),
    );
    a.stdin!.end('\n');
    b.stdin!.end('\n');
    for (const [who, r, base] of [
      ['A', await ra, 100000],
      ['B', await rb, 200000],
    ] as const) {
      assert.equal(r.code, 0, `${who}: ${r.stderr}`);
      assert.equal(section(r.stdout, 'ids'), `0 ${base} 65536\n0`);
      assert.equal(section(r.stdout, 'layers'), 'layer2\nnew\nno-seven', 'layer 2 over layer 1: a file, an opaque dir, a whiteout');
      assert.equal(section(r.stdout, 'root'), `by-${who}`, 'only its own file');
      assert.equal(section(r.stdout, 'motd'), `changed-${who}`);
      assert.equal(section(r.stdout, 'data'), '', 'its own deletion');
      assert.equal(section(r.stdout, 'group'), 'no-group');
      assert.equal(section(r.stdout, 'owners'), '0:0\n7:8');
      // From the host: the writable layer holds the container's ids, not 100000+/200000+.
      const upper = savedPaths(`${tag}-${who}`, env).upper;
      const f = lstatSync(join(upper, 'root', `by-${who}`));
      assert.deepEqual([f.uid, f.gid], [0, 0], 'written by root: 0:0 on disk');
      const g = lstatSync(join(upper, 'srv', who, 'f'));
      assert.deepEqual([g.uid, g.gid], [7, 8], 'chowned to 7:8: 7:8 on disk');
      const wh = lstatSync(join(upper, 'etc/group'));
      assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'a deletion is a whiteout in its own layer');
      assert.deepEqual([wh.uid, wh.gid], [0, 0]);
    }
    assert.deepEqual([treeSum(layers.l1), treeSum(layers.l2)], sums, 'the layers are byte for byte as before');
    await until('no process left', () => processesWith(tag).length === 0);
    assert.deepEqual(leaks(tmp.dir), []);
  });

  it('a kept container restarts on its own layer in another range and still owns its files (no chown)', async () => {
    const tag = marker('keep');
    const name = `${tag}-k`;
    const first = await collect(
      await start(spec(name, '0:100000:65536', `echo one > /root/mine; mkdir -p /home/alice/x; chown 1000:1000 /home/alice/x; : ${tag}`)),
    );
    assert.equal(first.code, 0, first.stderr);
    const saved = readSaved(name, env);
    assert.ok(saved, 'kept after exit');
    assert.equal(saved.lastUidMap, '0 100000 65536');
    const upper = savedPaths(name, env).upper;
    const before = lstatSync(join(upper, 'root/mine'));
    // Another range, no --image: it restarts on what it was made from.
    const again = await collect(
      await start({
        name,
        ids: { kind: 'maps', maps: pair('0:300000:65536') },
        fs: { kind: 'none' },
        user: { user: 'alice', group: null },
        command: [
          '/bin/sh',
          '-c',
          `read a b c < /proc/self/uid_map; echo $a $b $c; stat -c '%u:%g' /root /home/alice/x; touch /home/alice/x/ok && echo wrote; : ${tag}`,
        ],
      }),
    );
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, '0 300000 65536\n0:0\n1000:1000\nwrote\n');
    const after = lstatSync(join(upper, 'root/mine'));
    assert.deepEqual([after.uid, after.gid, after.ino, after.ctimeMs], [before.uid, before.gid, before.ino, before.ctimeMs], 'not chowned');
    const ok = lstatSync(join(upper, 'home/alice/x/ok'));
    assert.deepEqual([ok.uid, ok.gid], [1000, 1000], "alice's new file is 1000:1000 on disk in any range");
    assert.equal(readSaved(name, env)!.lastUidMap, '0 300000 65536');
    // The same name with another image is refused before anything changes.
    await assert.rejects(start(spec(name, '0:100000:65536', 'true', { image: imageOf([layers.l1], {}, 'sha256:' + '2'.repeat(64)) })), {
      code: 'ERR_CONTAINER_IMAGE_MISMATCH',
    });
    // keep: false (--rm) on the last run removes it.
    const last = await collect(await start({ ...spec(name, '0:100000:65536', 'cat /root/mine'), keep: false }));
    assert.equal(last.stdout, 'one\n');
    assert.equal(readSaved(name, env), null);
    assert.equal(existsSync(savedPaths(name, env).dir), false);
  });

  it('without a name the writable layer goes with the container', async () => {
    const c = await start(spec(undefined, '0:100000:65536', 'echo gone > /root/x'));
    const dir = savedPaths(c.name, env).dir;
    assert.equal((await collect(c)).code, 0);
    assert.equal(existsSync(dir), false);
  });

  it('honours the image config: Entrypoint and Cmd, Env, WorkingDir, User by name; --env and --workdir override', async () => {
    const config = {
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['echo "$GREETING from $(pwd) as $(id -un 2>/dev/null || id -u) home $HOME"'],
      Env: ['GREETING=hello', 'PATH=/usr/bin:/bin'],
      WorkingDir: '/etc',
      User: 'alice',
    };
    const run = async (more: Partial<RunSpec>) =>
      collect(
        await start({
          ids: { kind: 'maps', maps: pair('0:100000:65536') },
          fs: { kind: 'none' },
          image: image(config),
          command: [],
          ...more,
        }),
      );
    const plain = await run({});
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, 'hello from /etc as alice home /home/alice\n');
    const over = await run({ env: [['GREETING', 'hi']], workdir: '/home/alice', command: ['echo "$GREETING in $(pwd)"'] });
    assert.equal(over.stdout, 'hi in /home/alice\n');
    await assert.rejects(run({ workdir: '/nowhere' }), { code: 'ERR_RUN_WORKDIR_MISSING' });
    await assert.rejects(run({ user: { user: 'mallory', group: null } }), { code: 'ERR_RUN_NO_SUCH_USER' });
  });

  it('volumes on an image: read-write and read-only, and the command is looked up in the layers', async () => {
    const vol = join(tmp.dir, 'vol');
    mkdirSync(vol);
    writeFileSync(join(vol, 'in'), 'from host\n');
    const ro = await collect(
      await start(
        spec(undefined, '0:100000:65536', 'cat /data/in; touch /data/x 2>/dev/null && echo rw || echo ro', {
          volumes: [{ source: vol, target: '/data', readonly: true, fsidmap: null }],
        }),
      ),
    );
    assert.equal(ro.code, 0, ro.stderr);
    assert.equal(ro.stdout, 'from host\nro\n');
    await assert.rejects(start(spec(undefined, '0:100000:65536', 'true', { command: ['/bin/nothing'] })), {
      code: 'ERR_RUN_CMD_NOT_FOUND',
    });
    await assert.rejects(
      start(
        spec(undefined, '0:100000:65536', 'true', {
          command: ['cat', '/opt/seven'],
          volumes: [{ source: vol, target: '/opt/seven', readonly: false, fsidmap: null }],
        }),
      ),
      {
        code: 'ERR_RUN_VOLUME_TARGET_MISSING',
      },
    );
    assert.deepEqual(leaks(tmp.dir), []);
  });

  it('fsidmap container list|rm, and fsidmap run NAME restarting a kept container with --env, --env-file, --workdir and --rm', async () => {
    const tag = marker('cli');
    const name = `${tag}-c`;
    const cenv = { FSIDMAP_STATE_DIR: env.FSIDMAP_STATE_DIR!, FSIDMAP_RUN_DIR: env.FSIDMAP_RUN_DIR! };
    const c = await start(spec(name, '0:100000:65536', `echo kept > /root/k; read go; : ${tag}`));
    await until('the container runs', () => existsSync(join(savedPaths(name, env).upper, 'root/k')));
    const listed = async () => JSON.parse((await cli(['container', 'list', '--json'], cenv)).stdout) as Array<Record<string, unknown>>;
    const mine = async () => (await listed()).find((x) => x.name === name);
    assert.deepEqual(
      { ...(await mine()), createdAt: 0, lastStartedAt: 0, pid: 0 },
      {
        name,
        image: 'toy:latest',
        digest: 'sha256:' + '1'.repeat(64),
        status: 'running',
        keep: true,
        createdAt: 0,
        lastStartedAt: 0,
        uidMap: '0 100000 65536',
        gidMap: '0 100000 65536',
        pid: 0,
      },
    );
    const busy = await cli(['container', 'rm', '--json', name], cenv);
    assert.equal(busy.code, 1);
    assert.equal((JSON.parse(busy.stdout) as { errors: Array<{ code: string }> }).errors[0].code, 'ERR_CONTAINER_RUNNING');
    c.stdin!.end('\n');
    assert.equal((await collect(c)).code, 0);
    assert.equal((await mine())?.status, 'stopped');
    const text = await cli(['container', 'list'], cenv);
    assert.match(text.stdout, new RegExp(`^NAME +STATUS +IMAGE +UID MAP\n(.*\n)*${name} +stopped +toy:latest +0 100000 65536\n`));
    // The CLI restarts it by name alone, in another range.
    const envFile = join(tmp.dir, `${tag}.env`);
    writeFileSync(envFile, '# comment\nA=from-file\nB=file\n');
    const again = await cli(
      [
        'run',
        '--name',
        name,
        '--idmap',
        '0:200000:65536',
        '--env-file',
        envFile,
        '--env',
        'B=flag',
        '--workdir',
        '/root',
        '--',
        '/bin/sh',
        '-c',
        'echo $A $B $(pwd); cat k',
      ],
      cenv,
    );
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'from-file flag /root\nkept\n');
    assert.equal((await mine())?.uidMap, '0 200000 65536');
    const bad = await cli(['run', '--name', name, '--idmap', '0:200000:65536', '--env', 'A B=1', '--', 'true'], cenv);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--env "A B=1" is not KEY=VALUE/);
    // --allocate: a fresh random range at each start, and the files are still its own.
    const aenv = { ...cenv, FSIDMAP_DB: join(tmp.dir, `${tag}.db`) };
    const maps: string[] = [];
    for (const i of [1, 2]) {
      const r = await cli(
        ['run', '--name', name, '--allocate', '--', '/bin/sh', '-c', `echo ${i} >> /root/runs; stat -c %u:%g /root/runs; cat /root/runs`],
        aenv,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, i === 1 ? '0:0\n1\n' : '0:0\n1\n2\n');
      maps.push(String((await mine())?.uidMap));
    }
    assert.notEqual(maps[0], maps[1], `two starts, two ranges: ${maps.join(' / ')}`);
    for (const m of maps) assert.match(m, /^0 \d+ 65536$/);
    const runs = lstatSync(join(savedPaths(name, env).upper, 'root/runs'));
    assert.deepEqual([runs.uid, runs.gid], [0, 0], 'on disk at the image ids');
    const allocs = JSON.parse((await cli(['list', '--json'], aenv)).stdout) as unknown[];
    assert.deepEqual(allocs, [], 'each range released at exit');
    const rm = await cli(['container', 'rm', name], cenv);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(await mine(), undefined);
    assert.equal(existsSync(savedPaths(name, env).dir), false);
    const unknown = await cli(['container', 'rm', name], cenv);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /there is no container named/);
    // --rm on a restart removes it after the run.
    assert.equal((await collect(await start(spec(name, '0:100000:65536', 'true')))).code, 0);
    const once = await cli(['run', '--rm', '--name', name, '--idmap', '0:100000:65536', '--', 'true'], cenv);
    assert.equal(once.code, 0, once.stderr);
    assert.equal(existsSync(savedPaths(name, env).dir), false);
  });
});
