/**
 * kill and ptrace between processes of different user namespaces, the model
 * against the real kernel: generated sets of processes (host users, roots
 * and users of containers, several containers with the same or different id
 * maps), every ordered pair checked with kill(pid, 0) and process_vm_readv
 * (PTRACE_MODE_ATTACH_REALCREDS) by test/native/userns-signal, and with
 * killOk / ptraceMayAccess in the model under all three semantics.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type FsidSemantics, UsernsSystem, killOk, ptraceMayAccess, setresid, type Task } from '../../src/userns/index.js';
import { rng } from './userns-model-cases.js';

const STAGE = join(process.cwd(), 'dist/test/native/userns-signal');
const skip =
  process.getuid?.() !== 0
    ? 'needs root (user namespaces with arbitrary maps)'
    : !existsSync(STAGE)
      ? 'dist/test/native/userns-signal not built'
      : false;

interface P {
  map: string | null;
  uid: number;
  gid: number;
}

const KINDS: P[][] = [
  [
    { map: null, uid: 0, gid: 0 },
    { map: null, uid: 1000, gid: 1000 },
    { map: null, uid: 100000, gid: 100000 },
    { map: null, uid: 101000, gid: 101000 },
  ],
  [
    { map: '0:100000:65536', uid: 0, gid: 0 },
    { map: '0:100000:65536', uid: 1000, gid: 1000 },
    { map: '0:100000:65536', uid: 5, gid: 5 },
  ],
  [
    { map: '0:200000:65536', uid: 0, gid: 0 },
    { map: '0:200000:65536', uid: 1000, gid: 1000 },
  ],
  [
    { map: '0:100000:1000,1000:1000:1', uid: 1000, gid: 1000 },
    { map: '0:100000:1000,1000:1000:1', uid: 0, gid: 0 },
  ],
];

function model(procs: P[], semantics: FsidSemantics): Task[] {
  const sys = new UsernsSystem(semantics);
  const host = sys.spawn('host');
  return procs.map((p, i) => {
    const t = sys.fork(host, `p${i}`);
    if (p.map) {
      const ns = sys.unshare(t, `n${i}`).value!.ns;
      const text =
        p.map
          .split(',')
          .map((x) => x.split(':').join(' '))
          .join('\n') + '\n';
      assert.ok(sys.writeMap(host, ns, 'uid', text).ok);
      assert.ok(sys.writeMap(host, ns, 'gid', text).ok);
    }
    const g0 = setresid(t.cred, 'gid', 0, 0, 0);
    if (g0.ok) t.cred = setresid(g0.value!, 'uid', 0, 0, 0).value!;
    t.cred = setresid(t.cred, 'gid', p.gid, p.gid, p.gid).value!;
    t.cred = setresid(t.cred, 'uid', p.uid, p.uid, p.uid).value!;
    return t;
  });
}

test(
  'kill and ptrace follow the id maps: model equals the kernel for every pair of generated processes',
  { skip, timeout: 120_000 },
  () => {
    const r = rng(777);
    const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)];
    let compared = 0,
      allowed = 0;
    const mismatches: string[] = [];
    for (let round = 0; round < 12; round++) {
      const procs: P[] = Array.from({ length: 7 }, () => pick(pick(KINDS)));
      const pairs: Array<[number, number]> = [];
      procs.forEach((_, a) =>
        procs.forEach((__, b) => {
          if (a !== b) pairs.push([a, b]);
        }),
      );
      const input =
        procs.map((p) => `proc ${p.map ?? '-'} ${p.map ?? '-'} ${p.uid} ${p.gid}`).join('\n') +
        '\n' +
        pairs.map(([a, b]) => `check ${a} ${b}`).join('\n') +
        '\nend\n';
      const out = spawnSync(STAGE, [], { input, encoding: 'utf8' });
      assert.equal(out.status, 0, out.stderr);
      const lines = out.stdout.trim().split('\n');
      for (const sem of ['off', 'v3', 'v2'] as FsidSemantics[]) {
        const tasks = model(procs, sem);
        pairs.forEach(([a, b], i) => {
          const [kill, ptrace] = lines[i].split(' ');
          const mk = killOk(tasks[a], tasks[b]),
            mp = ptraceMayAccess(tasks[a], tasks[b], 'realcreds');
          compared += 2;
          if (sem === 'off') allowed += Number(kill === 'ok') + Number(ptrace === 'ok');
          const describe = (p: P) => `${p.map ?? 'host'} ${p.uid}:${p.gid}`;
          if ((mk.ok ? 'ok' : mk.errno) !== kill)
            mismatches.push(
              `[${sem}] kill ${describe(procs[a])} → ${describe(procs[b])}: kernel ${kill}, model ${mk.errno ?? 'ok'} (${mk.reason})`,
            );
          if ((mp.ok ? 'ok' : mp.errno) !== ptrace)
            mismatches.push(
              `[${sem}] ptrace ${describe(procs[a])} → ${describe(procs[b])}: kernel ${ptrace}, model ${mp.errno ?? 'ok'} (${mp.reason})`,
            );
        });
      }
    }
    console.log(
      `# kill/ptrace: ${compared} comparisons (${allowed} of ${compared / 3} allowed by the kernel), ${mismatches.length} mismatches`,
    );
    assert.deepEqual(mismatches.slice(0, 10), []);
  },
);
