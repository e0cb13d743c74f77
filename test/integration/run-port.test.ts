// The privilege port of `run` and the checked maps of its plan, on the real kernel.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type MountRequest, type PrivilegePort, rootPrivilegePort, startContainer } from '../../src/container/index.js';
import { startContainer as startWithChosenPort } from '../../src/index.js';
import { mountMap, parseMap } from '../../src/idmap/index.js';
import { checkMaps, readOwnMaps } from '../../src/kernel/index.js';
import { choosePrivilegePort } from '../../src/privilege/index.js';
import { collect, makeToyImage, processesWith, repoRoot, rootSkip, tempDir } from './support/run-fixtures.js';

const planChild = fileURLToPath(new URL('./support/plan-child.js', import.meta.url));
const PHASE_MARK = '/proc/self/fsidmap-test-phase-write';
const pair = (s: string) => {
  const m = parseMap(s);
  return { uid: m, gid: m };
};

/** Runs plan-child.js under strace (openat and execve, following children); its stdout's JSON and the trace's lines. */
function traced(args: object, dir: string): { out: Record<string, any>; trace: string[] } {
  const log = join(dir, `trace-${Math.random().toString(36).slice(2)}`);
  const r = spawnSync(
    'strace',
    ['-f', '-qq', '-e', 'trace=openat,execve', '-s', '200', '-o', log, process.execPath, planChild, JSON.stringify(args)],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return { out: JSON.parse(r.stdout), trace: readFileSync(log, 'utf8').split('\n') };
}

const opensOf = (trace: string[], path: string) => trace.filter((l) => l.includes('openat(') && l.includes(`"${path}"`)).length;

describe('run: one checked map from plan to write', { skip: rootSkip }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let image: string;
  const vols: string[] = [];
  before(() => {
    tmp = tempDir('port');
    image = join(tmp.dir, 'image');
    mkdirSync(image);
    makeToyImage(image, 300000);
    for (const [i, owner] of [
      [0, 300000],
      [1, 300000],
      [2, 400000],
      [3, 400000],
    ] as const) {
      const v = join(tmp.dir, `vol${i}`);
      mkdirSync(v);
      chownSync(v, owner, owner);
      vols.push(v);
    }
  });
  after(() => tmp.remove());

  it("reads the parent's maps once per plan, however many mounts, and keeps the bytes it checked", () => {
    const few = traced({ rootfs: image, volumes: [], write: false }, tmp.dir);
    const many = traced(
      {
        rootfs: image,
        write: false,
        volumes: [
          { source: vols[0], target: '/shared', fsidmap: null },
          { source: vols[1], target: '/data', fsidmap: null },
          { source: vols[2], target: '/opt', fsidmap: '0:400000:65536' },
          { source: vols[3], target: '/home', fsidmap: '0:400000:65536' },
        ],
      },
      tmp.dir,
    );
    for (const { trace } of [few, many]) {
      // Before: 2 reads for the id maps and 2 per mount (4 and 12 here).
      assert.equal(opensOf(trace, '/proc/self/uid_map'), 1);
      assert.equal(opensOf(trace, '/proc/self/gid_map'), 1);
    }
    assert.deepEqual(many.out.idmaps, { uid: '0 100000 65536\n', gid: '0 100000 65536\n' });
    assert.equal(many.out.rootfs, '300000 100000 65536\n');
    assert.deepEqual(many.out.volumes, [
      // Volumes on the container's fsid map share the rootfs's checked mount map; those on their own share theirs.
      { uid: '300000 100000 65536\n', sameAsRootfs: true },
      { uid: '300000 100000 65536\n', sameAsRootfs: true },
      { uid: '400000 100000 65536\n', sameAsRootfs: false },
      { uid: '400000 100000 65536\n', sameAsRootfs: false },
    ]);
  });

  it('writes the checked bytes without checking or reading the parent again', () => {
    const { out, trace } = traced({ rootfs: image, volumes: [], write: true }, tmp.dir);
    const mark = trace.findIndex((l) => l.includes(PHASE_MARK));
    assert.ok(mark > 0, 'the phase mark is in the trace');
    const writePhase = trace.slice(mark);
    assert.equal(opensOf(writePhase, '/proc/self/uid_map') + opensOf(writePhase, '/proc/self/gid_map'), 0);
    assert.equal(
      writePhase.filter((l) => /openat\(.*\/proc\/\d+\/uid_map", O_WRONLY/.test(l)).length,
      1,
      'uid_map opened for writing once',
    );
    // The kernel shows what was written, padded.
    assert.equal(out.written.uid.trim().split(/\s+/).join(' '), '0 100000 65536');
    assert.equal(out.written.gid.trim().split(/\s+/).join(' '), '0 100000 65536');
  });
});

describe('run: the root privilege port', { skip: rootSkip }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let src: string;
  before(() => {
    tmp = tempDir('rootport');
    src = join(tmp.dir, 'src');
    mkdirSync(src);
    chownSync(src, 300000, 300000);
  });
  after(() => tmp.remove());

  /** Our open descriptors of path's inode: the detached mounts of it (their links read "/", in no mount namespace). */
  const fdsOn = (path: string) => {
    const ino = statSync(path).ino;
    return readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1').includes(`\nino:\t${ino}\n`);
      } catch {
        return false;
      }
    });
  };
  const checked = (ids: string, fs: string) => {
    const i = parseMap(ids),
      f = parseMap(fs);
    return checkMaps({ uid: mountMap(i, f), gid: mountMap(i, f) }, readOwnMaps());
  };

  it('makes every mount of a batch, in order, read-only where asked', async () => {
    const a = checked('0:100000:65536', '0:300000:65536'),
      b = checked('0:200000:65536', '0:300000:65536');
    const requests: MountRequest[] = [
      { source: src, maps: a, readonly: true },
      { source: src, maps: a, readonly: false },
      { source: src, maps: b, readonly: false },
      { source: src, maps: null, readonly: false },
    ];
    const made = await rootPrivilegePort().mount(requests);
    try {
      assert.equal(made.length, 4);
      assert.deepEqual(
        made.map((m) => [m!.maps, m!.readonly]),
        requests.map((r) => [r.maps, r.readonly]),
      );
      assert.equal(fdsOn(src).length, 4);
    } finally {
      for (const m of made) m?.close();
    }
    assert.equal(fdsOn(src).length, 0);
    assert.deepEqual(processesWith(`fsidmap-stage:hold:${process.pid}`), [], 'its holders are gone');
  });

  it('makes one holder namespace per distinct mount map of a batch', () => {
    // Two requests on map A, one on B, one plain: two holders, counted by their execs.
    const script = `
      import { rootPrivilegePort } from ${JSON.stringify(join(repoRoot, 'dist/src/container/index.js'))};
      import { checkMaps, readOwnMaps } from ${JSON.stringify(join(repoRoot, 'dist/src/kernel/index.js'))};
      import { mountMap, parseMap } from ${JSON.stringify(join(repoRoot, 'dist/src/idmap/index.js'))};
      const m = (ids) => { const i = parseMap(ids), f = parseMap('0:300000:65536'); return checkMaps({ uid: mountMap(i, f), gid: mountMap(i, f) }, readOwnMaps()); };
      const a = m('0:100000:65536'), b = m('0:200000:65536');
      const src = ${JSON.stringify(src)};
      const made = await rootPrivilegePort().mount([{ source: src, maps: a, readonly: true }, { source: src, maps: a, readonly: false }, { source: src, maps: b, readonly: false }, { source: src, maps: null, readonly: false }]);
      for (const x of made) x.close();`;
    const log = join(tmp.dir, 'holders.trace');
    const r = spawnSync(
      'strace',
      ['-f', '-qq', '-e', 'trace=execve', '-s', '200', '-o', log, process.execPath, '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const holders = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l.includes('execve(') && l.includes('"hold"]'));
    assert.equal(holders.length, 2, holders.join('\n'));
  });

  it('leaves nothing when a mount of the batch fails, or when setup was aborted', async () => {
    const a = checked('0:100000:65536', '0:300000:65536');
    await assert.rejects(
      rootPrivilegePort().mount([
        { source: src, maps: a, readonly: false },
        { source: src, maps: null, readonly: false },
        { source: join(tmp.dir, 'missing'), maps: a, readonly: false },
      ]),
      { code: 'ERR_PATH_MISSING' },
    );
    assert.equal(fdsOn(src).length, 0, 'the mounts made before the failure are closed');
    const abort = new AbortController();
    abort.abort('SIGTERM');
    await assert.rejects(rootPrivilegePort().mount([{ source: src, maps: a, readonly: false }], abort.signal), {
      code: 'ERR_RUN_INTERRUPTED',
    });
    assert.equal(fdsOn(src).length, 0);
    assert.deepEqual(processesWith(`fsidmap-stage:hold:${process.pid}`), []);
  });
});

describe('run: who does the privileged steps', { skip: rootSkip }, () => {
  it("as root, the chooser gives fsidmap's own port (no broker asked)", async () => {
    const port = await choosePrivilegePort({ FSIDMAP_BROKER_SOCKET: '/nonexistent/broker.sock' });
    try {
      assert.equal(port.kind, 'root');
      assert.equal(port.attach, 'host');
    } finally {
      port.close();
    }
  });

  it('as an ordinary user: the chooser needs a broker; fsidmap/container without a port says what to pass', () => {
    const tmp = tempDir('nobody');
    try {
      const script = `
        const { choosePrivilegePort } = await import(${JSON.stringify(join(repoRoot, 'dist/src/privilege/index.js'))});
        const { startContainer } = await import(${JSON.stringify(join(repoRoot, 'dist/src/container/index.js'))});
        const codeOf = async (f) => { try { await f(); return 'none'; } catch (e) { return { code: e.code, hint: e.hint }; } };
        console.log(JSON.stringify({
          chooser: await codeOf(() => choosePrivilegePort({ FSIDMAP_BROKER_SOCKET: '/nonexistent-fsidmap-test/broker.sock' })),
          container: await codeOf(() => startContainer({ ids: { kind: 'allocate' }, fs: { kind: 'none' }, command: ['/bin/true'] })),
        }));`;
      const r = spawnSync(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '--input-type=module', '-e', script],
        { encoding: 'utf8', cwd: '/', env: { ...process.env, FSIDMAP_RUN_DIR: join(tmp.dir, 'run') } },
      );
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.chooser.code, 'ERR_BROKER_UNAVAILABLE');
      assert.match(out.chooser.hint, /or run fsidmap as root/);
      assert.equal(out.container.code, 'ERR_NOT_ROOT');
      assert.match(out.container.hint, /options\.port/);
    } finally {
      tmp.remove();
    }
  });
});

describe('run: startContainer through a port', { skip: rootSkip }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let image: string;
  before(() => {
    tmp = tempDir('through');
    image = join(tmp.dir, 'image');
    mkdirSync(image);
    makeToyImage(image, 300000);
  });
  after(() => tmp.remove());
  const spec = (name: string) =>
    ({
      name,
      ids: { kind: 'maps', maps: pair('0:100000:65536') },
      fs: { kind: 'maps', maps: pair('0:300000:65536') },
      rootfs: image,
      volumes: [{ source: image, target: '/shared', readonly: true, fsidmap: null }],
      command: ['/bin/sh', '-c', 'stat -c %u:%g /'],
    }) as const;

  it('does every privileged step through the port it is given, and leaves closing it to the caller', async () => {
    const root = rootPrivilegePort();
    const calls: string[] = [];
    // The real root port, with each call noted.
    const port: PrivilegePort = {
      kind: root.kind,
      attach: root.attach,
      mount: (requests, signal) => {
        calls.push(`mount ${requests.map((r) => `${r.source === image ? 'image' : r.source}${r.readonly ? ':ro' : ''}`).join(',')}`);
        return root.mount(requests, signal);
      },
      writeMaps: (pid, maps) => {
        calls.push(`writeMaps ${maps.bytes.uid.toString('latin1').trim()}`);
        return root.writeMaps(pid, maps);
      },
      close: () => {
        calls.push('close');
      },
    };
    const c = await startContainer(spec(`port-${process.pid}`), { port, stdio: ['ignore', 'pipe', 'pipe'] });
    const r = await collect(c);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '0:0');
    assert.deepEqual(calls, ['mount image,image:ro', 'writeMaps 0 100000 65536']);
  });

  it("the library's top-level startContainer chooses the port itself (root here)", async () => {
    const c = await startWithChosenPort(spec(`chosen-${process.pid}`), { stdio: ['ignore', 'pipe', 'pipe'] });
    const r = await collect(c);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '0:0');
  });
});
