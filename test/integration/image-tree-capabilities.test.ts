import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, openSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseMap } from '../../src/idmap/index.js';
import { shiftTree } from '../../src/tree/index.js';
import { diffSnapshots, makeFixture, type Snap, snapshot } from './tree-fixture.js';

/**
 * `image shift` against the kernel's own scoping of file capabilities. The
 * same tree (v2 capabilities of several shapes, v3 ones of a nested root,
 * ACLs, setuid files, hard links) is moved two ways: by `fsidmap image shift
 * DIR 0:100000:65536`, and by GNU tar extracting its archive as root inside a
 * user namespace whose map is 0 100000 65536 — there the kernel stores every
 * v2 capability written as v3 with rootid 100000 and moves v3 root ids through
 * the namespace's map (cap_convert_nscap). Every entry must end the same,
 * capability bytes included; --keep-v2-caps keeps the old behaviour.
 */
const skip = process.getuid?.() !== 0 ? 'needs root (setcap, chown, user namespaces with any map)' : false;
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'fsidmap-caps-'));
// The namespace's root must reach its target through this directory.
chmodSync(work, 0o711);
const stateDir = join(work, 'state');
after(() => rmSync(work, { recursive: true, force: true }));

/** A tree at base 0 with capabilities of every shape a v2-to-v3 conversion must carry. */
function makeTree(dir: string): void {
  makeFixture(dir, { files: 900, base: 0, seed: 41, capRootIds: [0, 1000, 65535] });
  const odd: Array<[string, string[]]> = [
    ['cap-p-only', ['cap_net_raw+p']],
    ['cap-inheritable', ['cap_chown+i cap_kill+p']],
    // Capabilities above 31 live in the second word of each pair.
    ['cap-high', ['cap_bpf,cap_perfmon,cap_checkpoint_restore+ep']],
    ['cap-all', ['all=eip']],
  ];
  for (const [name, args] of odd) {
    writeFileSync(join(dir, name), '#!/bin/sh\n', { mode: 0o755 });
    execFileSync('setcap', [...args, join(dir, name)]);
  }
}

/** Runs argv as root of a fresh user namespace whose uid and gid maps are `0 base count`. */
async function inNamespace(base: number, argv: string[], stdin: number): Promise<{ status: number | null; stderr: string }> {
  const holder = spawn('unshare', ['--user', '--', 'sleep', '600'], { stdio: 'ignore' });
  try {
    const pid = holder.pid as number;
    const ours = readlinkSync('/proc/self/ns/user');
    for (let i = 0; i < 300 && readlinkSync(`/proc/${pid}/ns/user`) === ours; i++) await new Promise((r) => setTimeout(r, 10));
    writeFileSync(`/proc/${pid}/uid_map`, `0 ${base} 65536\n`);
    writeFileSync(`/proc/${pid}/gid_map`, `0 ${base} 65536\n`);
    const r = spawnSync('nsenter', ['--user', `--target=${pid}`, '--setuid=0', '--setgid=0', '--', ...argv], {
      encoding: 'utf8',
      stdio: [stdin, 'pipe', 'pipe'],
    });
    return { status: r.status, stderr: r.stderr };
  } finally {
    holder.kill('SIGKILL');
  }
}

/** The tree as the kernel makes it: its archive extracted by GNU tar as root of a namespace mapping 0 to base. */
async function kernelShift(src: string, dest: string, base: number): Promise<void> {
  const archive = join(work, `${dest.split('/').pop()}.tar`);
  // Device nodes cannot be made inside a user namespace: left out of the archive (and of the comparison).
  execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--acls', '--exclude=./*dev[0-9]', '-cpf', archive, '-C', src, '.']);
  mkdirSync(dest);
  chownSync(dest, base, base);
  // Through standard input: the namespace's root may not open files of the host's root.
  const fd = openSync(archive, 'r');
  let r: { status: number | null; stderr: string };
  try {
    r = await inNamespace(
      base,
      ['tar', '--xattrs', '--xattrs-include=*', '--acls', '--numeric-owner', '--same-owner', '-xpf', '-', '-C', dest],
      fd,
    );
  } finally {
    closeSync(fd);
  }
  assert.equal(r.status, 0, r.stderr);
}

const withoutDevices = (s: Map<string, Snap>) => new Map([...s].filter(([, v]) => v.type !== 'char' && v.type !== 'block'));
const fsidmap = (...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, FSIDMAP_STATE_DIR: stateDir } });

for (const engine of ['native', 'node'] as const) {
  test(
    `capabilities (${engine} engine): image shift 0:100000:65536 ends exactly as the kernel's own unpack inside the namespace`,
    { skip },
    async () => {
      const orig = join(work, `orig-${engine}`),
        ours = join(work, `fsidmap-${engine}`),
        kernel = join(work, `kernel-${engine}`);
      makeTree(orig);
      execFileSync('cp', ['-a', orig, ours]);
      await shiftTree(ours, parseMap('0 100000 65536\n'), { stateDir, engine });
      await kernelShift(orig, kernel, 100000);
      const got = withoutDevices(snapshot(ours)),
        want = snapshot(kernel);
      assert.deepEqual(diffSnapshots(got, want), []);
      const caps = [...want.values()].filter((s) => s.cap !== null);
      assert.ok(caps.length >= 10, `${caps.length} capabilities compared`);
      // Every capability is scoped now: v3 with rootid 100000 (v2 before) or 101000 / 165535 (v3 of nested roots).
      const roots = new Set(caps.map((s) => Buffer.from(s.cap as string, 'hex').readUInt32LE(20)));
      assert.deepEqual([...roots].sort(), [100000, 101000, 165535]);
      assert.ok(caps.every((s) => s.cap?.length === 48));
    },
  );
}

test('capabilities: shifting back (-r) gives the original bytes, v2 again; --keep-v2-caps leaves v2 as v2', { skip }, async () => {
  const orig = join(work, 'orig-back'),
    tree = join(work, 'back'),
    kept = join(work, 'kept');
  makeTree(orig);
  execFileSync('cp', ['-a', orig, tree]);
  execFileSync('cp', ['-a', orig, kept]);
  let r = fsidmap('image', 'shift', tree, '0:100000:65536');
  assert.equal(r.status, 0, r.stderr);
  r = fsidmap('image', 'shift', '-r', tree, '0:100000:65536');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(diffSnapshots(withoutDevices(snapshot(tree)), withoutDevices(snapshot(orig))), []);

  r = fsidmap('image', 'shift', '--keep-v2-caps', '--json', kept, '0:100000:65536');
  assert.equal(r.status, 0, r.stderr);
  const before = snapshot(orig);
  let v2 = 0;
  for (const [path, s] of snapshot(kept)) {
    const was = before.get(path)?.cap ?? null;
    if (was === null || was.length !== 40) continue;
    v2++;
    assert.equal(s.cap, was, `${path}: kept v2`);
  }
  assert.ok(v2 >= 6);
});

test(
  'capabilities: a shift interrupted under --keep-v2-caps is resumed only by the same policy (ERR_SHIFT_PENDING names it)',
  { skip },
  async () => {
    const tree = join(work, 'pending');
    makeFixture(tree, { files: 200, base: 0, seed: 42 });
    const before = snapshot(tree);
    const stop = new AbortController();
    await assert.rejects(
      shiftTree(tree, parseMap('0 100000 65536\n'), {
        stateDir,
        capabilities: 'keep-v2',
        signal: stop.signal,
        // Apply has begun (the journal is on disk) and nothing is changed yet.
        onProgress: (p) => {
          if (p.phase === 'apply') stop.abort();
        },
      }),
      { code: 'ERR_SHIFT_INTERRUPTED' },
    );
    const other = fsidmap('image', 'shift', tree, '0:100000:65536');
    assert.equal(other.status, 1, other.stderr);
    assert.match(other.stderr, /pending with other arguments/);
    assert.match(other.stderr, /--keep-v2-caps/);
    const same = fsidmap('image', 'shift', '--keep-v2-caps', '--json', tree, '0:100000:65536');
    assert.equal(same.status, 0, same.stderr);
    assert.equal(JSON.parse(same.stdout).resumed, true);
    const caps = [...snapshot(tree)].filter(([, s]) => s.cap !== null);
    assert.ok(caps.length > 0);
    for (const [path, s] of caps) assert.equal(s.cap, before.get(path)?.cap, `${path}: still v2`);
  },
);
