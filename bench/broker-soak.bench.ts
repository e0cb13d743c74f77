// Soak benchmark of the broker under attack (issue 13): two hostile users
// flood it while an honest user goes on allocating, mapping and mounting.
//  - hostile A: descriptor floods (1-byte messages with 4 descriptors each, a
//    lingering TCP socket among them, a newline every 500) and ~59 KB junk lines;
//  - hostile B: a connection flood from 32 of its subordinate uids (8 each, as
//    if each were a user) and junk lines;
//  - the honest user, a cycle every 500 ms: connect + hello, alloc, setmaps
//    (a fresh namespace with the allocated range), mount (a directory of its
//    subordinate range), hello, release.
// A quiet phase first (the honest user alone), then the flood phase; the
// honest user's latency per step (median, p99, max) in each, its failures,
// and the broker's descriptors, RSS and audit log size once a second.
// Default limits everywhere. FSIDMAP_SOAK_SECONDS (default 60) sets the flood
// phase; the quiet phase is a quarter of it (at least 5 s).
// Needs root (it creates its test users). Writes bench/results/broker-soak.json.
import { chownSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrokerClient } from '../src/broker/client.js';
import { closeDescriptor, unixConnect } from '../src/kernel/socket/unix-socket.js';
import { BrokerWorld, type TestUser } from '../test/integration/support/broker-world.js';

const here = dirname(fileURLToPath(import.meta.url));
const FLOOD_S = Number(process.env.FSIDMAP_SOAK_SECONDS ?? 60);
const QUIET_S = Math.max(5, Math.round(FLOOD_S / 4));
const flood = join(here, 'soak-flood.js');

if (process.getuid?.() !== 0) {
  console.log('broker soak benchmark: skipped (needs root to create its test users)');
  process.exit(0);
}

interface Stat {
  median: number;
  p99: number;
  max: number;
  n: number;
}
function stats(ms: number[]): Stat {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(s.length * q))] ?? NaN;
  return { median: at(0.5), p99: at(0.99), max: s.at(-1) ?? NaN, n: s.length };
}

const w = await BrokerWorld.create({ users: 3 });
const [honest, hostileA, hostileB] = w.users;
const brokerPid = w.broker!.pid!;
const groups = process.getgroups!();

/** A connection made by u from this process (SO_PEERCRED records the effective ids and groups at connect). */
function connectAs(u: TestUser): BrokerClient {
  process.setgroups!([u.gid]);
  process.setegid!(u.gid);
  process.seteuid!(u.uid);
  let fd: number;
  try {
    fd = unixConnect(w.socket);
  } finally {
    process.seteuid!(0);
    process.setegid!(0);
    process.setgroups!(groups);
  }
  return BrokerClient.fromFd(fd, `${u.name}'s connection`, 30000);
}

type Phase = 'quiet' | 'flood';
const samples: { phase: Phase; step: string; ms: number }[] = [];
const failures: { phase: Phase; step: string; code: string }[] = [];
const timeline: { t: number; phase: Phase; fds: number; rssKiB: number; auditKiB: number; cpuPct: number }[] = [];
/** utime + stime of the broker, in clock ticks (100 per second). */
const cpuTicks = () => {
  const st = readFileSync(`/proc/${brokerPid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
};
let lastCpu = { at: Date.now(), ticks: 0 };
let phase: Phase = 'quiet';
const t0 = Date.now();

const sampler = setInterval(() => {
  try {
    const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${brokerPid}/status`, 'utf8'));
    const now = { at: Date.now(), ticks: cpuTicks() };
    const cpuPct = lastCpu.ticks === 0 ? NaN : (now.ticks - lastCpu.ticks) / ((now.at - lastCpu.at) / 1000);
    lastCpu = now;
    timeline.push({
      cpuPct,
      t: (Date.now() - t0) / 1000,
      phase,
      fds: readdirSync(`/proc/${brokerPid}/fd`).length,
      rssKiB: Number(rss?.[1] ?? NaN),
      auditKiB: Math.round(statSync(w.auditPath).size / 1024),
    });
  } catch {
    /* the broker is gone: the summary will say */
  }
}, 1000);

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t = process.hrtime.bigint();
  try {
    const v = await fn();
    samples.push({ phase, step: name, ms: Number(process.hrtime.bigint() - t) / 1e6 });
    return v;
  } catch (e) {
    failures.push({ phase, step: name, code: (e as { code?: string }).code ?? String(e) });
    throw e;
  }
}

const img = join(honest.home, 'img');
mkdirSync(img);
chownSync(img, honest.sub.start, honest.sub.start);
const mm = `${honest.sub.start} ${honest.sub.start + 65536} 65536`;

async function honestCycle(): Promise<void> {
  const c = await step('connect + hello', async () => {
    const c = connectAs(honest);
    try {
      await c.hello();
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  });
  try {
    const a = (await step('alloc', () => c.alloc('soak'))).allocation;
    const h = await w.holderOf(honest);
    try {
      await step('setmaps', () => c.setMaps(h.nsFd, h.pidfd, { uid: `0:${a.uid.start}:65536`, gid: `0:${a.gid.start}:65536` }));
      const m = await step('mount', () => c.mount({ path: img, mountMap: { uid: mm, gid: mm } }));
      closeDescriptor(m.fd);
      await step('hello', () => c.hello());
    } finally {
      await h.kill();
    }
    await step('release', () => c.release('soak'));
  } finally {
    c.close();
  }
}

/** A cycle (6 requests) starts every PACE_MS: 12 requests a second, within the default 20 of every user. */
const PACE_MS = 500;
async function honestUntil(end: number): Promise<void> {
  while (Date.now() < end) {
    const next = Date.now() + PACE_MS;
    await honestCycle().catch(() => undefined);
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
  }
}

const floodCounts: unknown[] = [];
const auditByCode: Record<string, { lines: number; bytes: number }> = {};
try {
  await honestUntil(Date.now() + QUIET_S * 1000);
  phase = 'flood';
  const secs = String(FLOOD_S);
  const floods = [
    w.spawnAs(hostileA, [process.execPath, flood, 'fds', w.socket, secs]),
    w.spawnAs(hostileA, [process.execPath, flood, 'junk', w.socket, secs]),
    w.spawnAs(hostileB, [
      'unshare',
      '--user',
      `--map-users=${hostileB.sub.start},0,65536`,
      `--map-groups=${hostileB.sub.start},0,65536`,
      '--setuid',
      '0',
      '--setgid',
      '0',
      '--',
      process.execPath,
      flood,
      'subuid',
      w.socket,
      secs,
      '32',
    ]),
    w.spawnAs(hostileB, [process.execPath, flood, 'junk', w.socket, secs]),
  ];
  const done = floods.map(
    (f) =>
      new Promise<void>((resolve) => {
        let out = '',
          err = '';
        f.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
        f.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
        f.once('close', (code) => {
          try {
            floodCounts.push(JSON.parse(out.trim().split('\n').pop()!));
          } catch {
            floodCounts.push({ exit: code, stderr: err.slice(-400) });
          }
          resolve();
        });
      }),
  );
  await honestUntil(Date.now() + FLOOD_S * 1000);
  await Promise.all(done);
} finally {
  clearInterval(sampler);
  for (const line of readFileSync(w.auditPath, 'utf8').split('\n')) {
    if (line === '') continue;
    const code = (JSON.parse(line) as { code: string | null }).code ?? 'allowed';
    const a = (auditByCode[code] ??= { lines: 0, bytes: 0 });
    a.lines++;
    a.bytes += Buffer.byteLength(line) + 1;
  }
  const alive = w.brokerAlive();
  const c = alive ? connectAs(honest) : null;
  await c?.release('soak').catch(() => undefined);
  c?.close();
  await w.destroy();
  if (!alive) console.log(`the broker died: ${w.brokerStderr.slice(-2000)}`);
}

const f = (x: number) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : '—');
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}, node ${process.version}; quiet ${QUIET_S} s, flood ${FLOOD_S} s`,
);
const steps = [...new Set(samples.map((s) => s.step))];
const rows = steps.map((name) => {
  const of = (p: Phase) => stats(samples.filter((s) => s.step === name && s.phase === p).map((s) => s.ms));
  const failed = (p: Phase) => failures.filter((x) => x.step === name && x.phase === p).length;
  return { step: name, quiet: of('quiet'), flood: of('flood'), failedQuiet: failed('quiet'), failedFlood: failed('flood') };
});
console.log(['honest step'.padEnd(16), 'quiet n', 'median', 'p99', 'flood n', 'median', 'p99', 'max', 'failed (quiet/flood)'].join('  '));
for (const r of rows)
  console.log(
    [
      r.step.padEnd(16),
      String(r.quiet.n).padStart(7),
      f(r.quiet.median).padStart(6),
      f(r.quiet.p99).padStart(6),
      String(r.flood.n).padStart(7),
      f(r.flood.median).padStart(6),
      f(r.flood.p99).padStart(6),
      f(r.flood.max).padStart(6),
      `${r.failedQuiet}/${r.failedFlood}`,
    ].join('  '),
  );
const codes = [...new Set(failures.map((x) => `${x.step}: ${x.code}`))];
if (codes.length > 0) console.log(`honest failures: ${codes.join('; ')}`);
console.log('broker over time (every 5 s): t s, phase, fds, RSS MiB, audit log KiB, CPU % of one core');
for (const s of timeline.filter((_, i) => i % 5 === 0))
  console.log(
    `  ${s.t.toFixed(0).padStart(4)}  ${s.phase.padEnd(5)}  ${String(s.fds).padStart(5)}  ${(s.rssKiB / 1024).toFixed(1).padStart(6)}  ${String(s.auditKiB).padStart(6)}  ${s.cpuPct.toFixed(0)}`,
  );
const peak = (k: 'fds' | 'rssKiB', p: Phase) => Math.max(...timeline.filter((s) => s.phase === p).map((s) => s[k]));
console.log(
  `peak fds quiet ${peak('fds', 'quiet')}, flood ${peak('fds', 'flood')}; peak RSS MiB quiet ${(peak('rssKiB', 'quiet') / 1024).toFixed(1)}, flood ${(peak('rssKiB', 'flood') / 1024).toFixed(1)}`,
);
console.log(
  `audit log by code: ${Object.entries(auditByCode)
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .map(([c, a]) => `${c} ${a.lines} lines ${Math.round(a.bytes / 1024)} KiB`)
    .join('; ')}`,
);
console.log(`floods: ${floodCounts.map((x) => JSON.stringify(x)).join('\n        ')}`);
mkdirSync(join(here, '..', '..', 'bench', 'results'), { recursive: true });
writeFileSync(
  join(here, '..', '..', 'bench', 'results', 'broker-soak.json'),
  JSON.stringify(
    {
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? null, node: process.version, load: loadavg() },
      quietSeconds: QUIET_S,
      floodSeconds: FLOOD_S,
      rows,
      failures,
      timeline,
      floods: floodCounts,
      auditByCode,
    },
    null,
    2,
  ) + '\n',
);
