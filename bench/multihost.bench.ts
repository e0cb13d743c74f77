// The PostgreSQL registry across three hosts (test/support/netns-world.ts:
// network namespaces on a bridge, TLS verify-full, the host role, the URL
// in a root-only file): allocations per second from 1 and from 3 hosts at
// once against one server, then the latency (median, p99) of alloc and of
// a lookup by id with 100,000 live allocations, through the library (a
// long-lived process, warm connection) and through the CLI (a process per
// command, as an operator or a hook runs it). Needs root. Writes
// bench/results/multihost.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_POOL, SLOT, SlotMap, chooseRange, reservedSet, seededRandom } from '../src/alloc/index.js';
import { hostRoleGrants, openRegistry } from '../src/registry/index.js';
import { HOST_ROLE, type Host, type World, buildWorld } from '../test/support/netns-world.js';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'src', 'cli', 'main.js');
const WORKER = join(here, '..', 'test', 'support', 'multihost-worker.js');
const PER_HOST = 400;
const REALMS = 4;
const PER_REALM = 25_000;
const LAT_N = 400;
const CLI_N = 30;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

function runWorker(h: Host, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const p = h.start(process.execPath, [WORKER, ...args], env);
    let out = '';
    let err = '';
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) =>
      code === 0
        ? resolve(
            out
              .trim()
              .split('\n')
              .map((l) => JSON.parse(l)),
          )
        : reject(new Error(`${h.name} worker exited ${code}: ${err}`)),
    );
  });
}

async function setup(world: World, database: string): Promise<void> {
  await world.createDatabase(database, async (ownerUrl) => {
    await (await openRegistry({ db: ownerUrl })).close();
    const c = await world.admin(database);
    await c.query(hostRoleGrants(HOST_ROLE));
    await c.end();
  });
}

/** Allocations per second of `hosts` allocating PER_HOST names each at once (first attempt to last commit). */
async function throughput(world: World, hosts: readonly Host[], database: string): Promise<number> {
  const url = world.hostUrl(database);
  const runs = await Promise.all(
    hosts.map((h) => runWorker(h, [`tp-${h.name}`, String(PER_HOST)], { FSIDMAP_DB: url }).then((lines) => ({ h, lines }))),
  );
  const ok = runs.flatMap((r) => r.lines.filter((l) => l.name !== undefined)) as { t: number; ms: number }[];
  if (ok.length !== hosts.length * PER_HOST) throw new Error(`expected ${hosts.length * PER_HOST} allocations, got ${ok.length}`);
  const first = Math.min(...ok.map((l) => l.t));
  const last = Math.max(...ok.map((l) => l.t + l.ms));
  return (ok.length / (last - first)) * 1000;
}

async function prefill(world: World, database: string): Promise<void> {
  const c = await world.admin(database);
  try {
    const random = seededRandom(2027);
    const now = new Date().toISOString();
    for (let r = 1; r <= REALMS; r++) {
      await c.query('INSERT INTO realms (id, name) VALUES ($1, $2)', [r, `realm-${r}`]);
      const blocked = SlotMap.of(reservedSet());
      const starts: number[] = [];
      for (let i = 0; i < PER_REALM; i++) {
        const ch = chooseRange(`r${r}-c${i}`, SLOT, { pool: DEFAULT_POOL, blocked }, random);
        blocked.block(ch.start, ch.end);
        starts.push(ch.start);
      }
      for (let i = 0; i < starts.length; i += 5000) {
        const part = starts.slice(i, i + 5000);
        await c.query(
          `INSERT INTO allocations (realm_id, name, kind, scope_key, uid_start, uid_count, gid_start, gid_count, created_at)
           SELECT $1::bigint, 'r' || $1::text || '-container-' || (n + $2::bigint), 'container', -$1::bigint, s, 65536, s, 65536, $3::timestamptz
           FROM unnest($4::bigint[]) WITH ORDINALITY AS u(s, n)`,
          [r, i, now, part],
        );
      }
    }
    await c.query("SELECT setval('realms_id_seq', $1)", [REALMS]);
    // The trigger rewrote each realm's scope row 25,000 times in one go; autovacuum would clean it up soon, VACUUM does now.
    await c.query('VACUUM ANALYZE');
  } finally {
    await c.end();
  }
}

function cliTimes(h: Host, args: (i: number) => string[], n: number): number[] {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = h.run(process.execPath, [CLI, ...args(i)]);
    if (r.status !== 0) throw new Error(`${args(i).join(' ')}: ${r.stderr}`);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return times;
}

const world = await buildWorld(3);
try {
  const [h1, h2, h3] = world.hosts;
  await setup(world, 'tp1');
  await setup(world, 'tp3');
  const one = await throughput(world, [h1], 'tp1');
  const three = await throughput(world, [h1, h2, h3], 'tp3');
  // The throughput runs wrote into their own databases; the rest uses 'registry', which the hosts' URL files name.
  await setup(world, 'registry');
  await prefill(world, 'registry');
  const lat = (await runWorker(h2, ['--latency', 'realm-1', String(LAT_N)], { FSIDMAP_DB_TIMEOUT: '15' }))[0] as {
    alloc: number[];
    who: number[];
  };
  const cliAlloc = cliTimes(h1, (i) => ['alloc', `cli-${i}`, '--realm', 'realm-2', '--json'], CLI_N);
  const cliWho = cliTimes(h3, (i) => ['who', String(1_000_000_000 + i * SLOT), '--realm', 'realm-2', '--json'], CLI_N);
  const result = {
    machine: { cpus: cpus().length, load: loadavg()[0] },
    throughput: { perHost: PER_HOST, oneHostPerSecond: Math.round(one), threeHostsPerSecond: Math.round(three), ratio: three / one },
    live: REALMS * PER_REALM,
    library: {
      alloc: { median: pct(lat.alloc, 50), p99: pct(lat.alloc, 99), n: LAT_N },
      who: { median: pct(lat.who, 50), p99: pct(lat.who, 99), n: LAT_N },
    },
    cli: {
      alloc: { median: pct(cliAlloc, 50), p99: pct(cliAlloc, 99), n: CLI_N },
      who: { median: pct(cliWho, 50), p99: pct(cliWho, 99), n: CLI_N },
    },
  };
  const f = (x: number) => x.toFixed(1).padStart(8);
  console.log(`PostgreSQL registry, 3 network-namespace hosts, TLS verify-full (${cpus().length} CPUs, load ${loadavg()[0].toFixed(1)})`);
  console.log(`allocations/s  1 host: ${Math.round(one)}   3 hosts at once: ${Math.round(three)}   (×${(three / one).toFixed(2)})`);
  console.log(`with ${REALMS * PER_REALM} live allocations          median ms   p99 ms`);
  console.log(`  alloc, library (warm connection)  ${f(result.library.alloc.median)} ${f(result.library.alloc.p99)}`);
  console.log(`  who by id, library                ${f(result.library.who.median)} ${f(result.library.who.p99)}`);
  console.log(`  fsidmap alloc (CLI process)       ${f(result.cli.alloc.median)} ${f(result.cli.alloc.p99)}`);
  console.log(`  fsidmap who (CLI process)         ${f(result.cli.who.median)} ${f(result.cli.who.p99)}`);
  const out = join(here, '..', '..', 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'multihost.json'), JSON.stringify(result, null, 2) + '\n');
} finally {
  world.stop();
}
