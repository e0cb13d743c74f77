// Benchmark: what the broker costs a user, next to the peers that do the same
// step without it, measured in the same run on the same machine:
//  - a round trip (hello) on an open connection, alone and with 4 users at once;
//  - writing a namespace's uid_map and gid_map: through the broker, versus
//    shadow-utils' newgidmap + newuidmap run by the same user, versus root
//    writing the /proc files itself (the floor);
//  - a detached idmapped mount of a user's directory: through the broker
//    (path walk, holder namespace, open_tree, mount_setattr, flag lock),
//    versus root doing the same in-process without the lock step.
// Needs root (it creates test users). Writes bench/results/broker.json.
import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mapHolders } from '../src/broker/wiring.js';
import { parseMap } from '../src/idmap/index.js';
import { cloneTreeAt, MOUNT_ATTR_NODEV, setMountAttrs } from '../src/kernel/mount/locked-mount.js';
import { closeDescriptor } from '../src/kernel/socket/unix-socket.js';
import { BrokerWorld, type TestUser } from '../test/integration/support/broker-world.js';

const here = dirname(fileURLToPath(import.meta.url));
const N = Number(process.env.FSIDMAP_BENCH_RUNS ?? 30);

interface Stat {
  median: number;
  p90: number;
  min: number;
  n: number;
}
function stats(ms: number[]): Stat {
  const s = [...ms].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], p90: s[Math.floor(s.length * 0.9)], min: s[0], n: s.length };
}
async function time(n: number, fn: (i: number) => Promise<void>): Promise<Stat> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn(i);
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return stats(out);
}

if (process.getuid?.() !== 0) {
  console.log('broker benchmark: skipped (needs root to create its test users)');
  process.exit(0);
}

const w = await BrokerWorld.create({ users: 4, limits: { default: { requestsPerSecond: 1e6, burst: 1e6, namespaces: 1e6 } } });
const rows: Array<{ step: string; how: string; stat: Stat }> = [];
try {
  const [a] = w.users;
  const ca = await w.connectAs(a);

  // Round trips.
  for (let i = 0; i < 50; i++) await ca.hello();
  rows.push({
    step: 'hello round trip',
    how: 'broker, 1 connection',
    stat: await time(N * 20, async () => {
      await ca.hello();
    }),
  });
  const clients = await Promise.all(w.users.map((u: TestUser) => w.connectAs(u)));
  const t0 = process.hrtime.bigint();
  const per = N * 10;
  await Promise.all(
    clients.map(async (c) => {
      for (let i = 0; i < per; i++) await c.hello();
    }),
  );
  const total = Number(process.hrtime.bigint() - t0) / 1e6;
  rows.push({
    step: 'hello round trip',
    how: `broker, ${clients.length} users at once (per request, amortised)`,
    stat: { median: total / (per * clients.length), p90: NaN, min: NaN, n: per * clients.length },
  });
  for (const c of clients) c.close();

  // Map writes: the holder exists already; timed is writing both maps.
  const sub = `0 ${a.sub.start} 65536`;
  const brokerMaps: number[] = [],
    toolMaps: number[] = [],
    rootMaps: number[] = [];
  for (let i = 0; i < N; i++) {
    for (const [list, how] of [
      [brokerMaps, 'broker'],
      [toolMaps, 'tools'],
      [rootMaps, 'root'],
    ] as const) {
      const h = await w.holderOf(a);
      const t = process.hrtime.bigint();
      if (how === 'broker') await ca.setMaps(h.nsFd, h.pidfd, { uid: sub, gid: sub });
      else if (how === 'tools') {
        for (const tool of ['newgidmap', 'newuidmap']) {
          const r = spawnSync('setpriv', [`--reuid=${a.uid}`, `--regid=${a.gid}`, '--init-groups', tool, String(h.pid), ...sub.split(' ')]);
          if (r.status !== 0) throw new Error(`${tool}: ${r.stderr}`);
        }
      } else {
        writeFileSync(`/proc/${h.pid}/gid_map`, sub);
        writeFileSync(`/proc/${h.pid}/uid_map`, sub);
      }
      list.push(Number(process.hrtime.bigint() - t) / 1e6);
      await h.kill();
    }
  }
  rows.push({ step: 'write uid_map + gid_map', how: 'broker (setmaps, as the user)', stat: stats(brokerMaps) });
  rows.push({ step: 'write uid_map + gid_map', how: 'newgidmap + newuidmap (as the user)', stat: stats(toolMaps) });
  rows.push({ step: 'write uid_map + gid_map', how: 'root writes /proc itself (floor)', stat: stats(rootMaps) });

  // Mounts.
  const img = join(a.home, 'img');
  mkdirSync(img);
  chownSync(img, a.sub.start, a.sub.start);
  const mm = `${a.sub.start} ${a.sub.start + 65536} 65536`;
  rows.push({
    step: 'detached idmapped mount',
    how: 'broker (walk, holder, clone, idmap, lock)',
    stat: await time(N, async () => {
      const m = await ca.mount({ path: img, mountMap: { uid: mm, gid: mm } });
      closeDescriptor(m.fd);
    }),
  });
  const maps = { uid: parseMap(mm), gid: parseMap(mm) };
  const { openSync } = await import('node:fs');
  rows.push({
    step: 'detached idmapped mount',
    how: 'root in-process (holder, clone, idmap; no walk, no lock)',
    stat: await time(N, async () => {
      const holder = await mapHolders(maps);
      const src = openSync(img, 'r');
      try {
        const fd = cloneTreeAt(src, img);
        setMountAttrs(fd, 0x00100000 | MOUNT_ATTR_NODEV, holder.nsFd, img);
        closeDescriptor(fd);
      } finally {
        closeDescriptor(src);
        await holder.release();
      }
    }),
  });
  ca.close();
} finally {
  await w.destroy();
}

const f = (x: number) => (Number.isFinite(x) ? x.toFixed(x < 1 ? 3 : 2) : '—');
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}, node ${process.version}, ${N} runs`,
);
console.log(['step'.padEnd(26), 'how'.padEnd(58), 'median ms', 'p90 ms', 'min ms'].join('  '));
for (const r of rows)
  console.log(
    [r.step.padEnd(26), r.how.padEnd(58), f(r.stat.median).padStart(9), f(r.stat.p90).padStart(6), f(r.stat.min).padStart(6)].join('  '),
  );
const ratio = (step: string, a: string, b: string) => {
  const x = rows.find((r) => r.step === step && r.how.startsWith(a))!,
    y = rows.find((r) => r.step === step && r.how.startsWith(b))!;
  return x.stat.median / y.stat.median;
};
const ratios = {
  mapsBrokerVsTools: ratio('write uid_map + gid_map', 'broker', 'newgidmap'),
  mapsBrokerVsRoot: ratio('write uid_map + gid_map', 'broker', 'root'),
  mountBrokerVsRoot: ratio('detached idmapped mount', 'broker', 'root'),
};
console.log(
  `ratios (median): maps broker/newuidmap ${ratios.mapsBrokerVsTools.toFixed(2)}, maps broker/root ${ratios.mapsBrokerVsRoot.toFixed(2)}, mount broker/root ${ratios.mountBrokerVsRoot.toFixed(2)}`,
);
mkdirSync(join(here, '..', '..', 'bench', 'results'), { recursive: true });
writeFileSync(
  join(here, '..', '..', 'bench', 'results', 'broker.json'),
  JSON.stringify(
    {
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? null, node: process.version, load: loadavg() },
      runs: N,
      rows,
      ratios,
    },
    null,
    2,
  ) + '\n',
);
