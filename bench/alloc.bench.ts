// The allocator's benchmark: allocation rate on SQLite with 100,000 live
// allocations, `who` latency, and the peers' schemes at 99% full.
//
// 100,000 allocations of 65536 ids cannot share one id space (2^32 / 65536 =
// 65536 slots, of which systemd's container range holds 28,664), so the
// registry holds them in 4 realms (independent id spaces, e.g. 4 clusters on
// one PostgreSQL server) of 25,000, each 87% of the container range.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { DEFAULT_POOL, SLOT, SlotMap, chooseRange, cryptoRandom, hostExclusions, reservedSet, seededRandom } from '../src/alloc/index.js';
import { readHostFacts, whoHolds } from '../src/alloc-host/index.js';
import { StoreRegistry } from '../src/registry/registry.js';
import { SqliteStore } from '../src/registry/sqlite.js';
import { type Taken, firstFit, retryRandom } from './alloc-peers.js';

const here = dirname(fileURLToPath(import.meta.url));
const MAIN = join(here, '..', 'src', 'cli', 'main.js');
const REALMS = 4;
const LIVE = 100_000;
const MEASURED = 2_000;
const MEASURED_FULL = 300;
const dir = mkdtempSync(join(tmpdir(), 'fsidt5-bench-'));
const dbPath = join(dir, 'registry.db');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

/** Fills the realms with LIVE - MEASURED allocations chosen by the real chooser, written in one transaction. */
function prefill(): void {
  new SqliteStore({ path: dbPath }).close();
  const db = new Database(dbPath);
  const random = seededRandom(2026);
  const insert =
    db.prepare(`INSERT INTO allocations (realm_id, name, kind, scope_key, uid_start, uid_count, gid_start, gid_count, created_at)
    VALUES (?, ?, 'container', ?, ?, 65536, ?, 65536, ?)`);
  const now = new Date().toISOString();
  db.transaction(() => {
    for (let r = 1; r <= REALMS; r++) {
      db.prepare('INSERT INTO realms (id, name) VALUES (?, ?)').run(r, `realm-${r}`);
      const count = LIVE / REALMS - (r === 1 ? MEASURED : r === 3 ? MEASURED_FULL : 0);
      const blocked = SlotMap.of(reservedSet());
      for (let i = 0; i < count; i++) {
        const name = `r${r}-c${i}`;
        const c = chooseRange(name, SLOT, { pool: DEFAULT_POOL, blocked }, random);
        blocked.block(c.start, c.end);
        insert.run(r, name, -r, c.start, c.start, now);
      }
    }
  })();
  db.close();
}

interface Rate {
  perSecond: number;
  roundsPerSecond: number[];
  perCpuSecond: number;
  viaHash: number;
  msEach: number;
}

/** n allocations in rounds of `round`; the rate is the median round's, the rounds show how the shared machine varied. */
async function allocRate(synchronous: 'NORMAL' | 'FULL', realm: string, n: number, round: number): Promise<Rate> {
  const registry = new StoreRegistry(new SqliteStore({ path: dbPath, synchronous }));
  const exclusions = hostExclusions(readHostFacts());
  let viaHash = 0;
  const rounds: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let done = 0; done < n; done += round) {
    const r0 = performance.now();
    for (let i = done; i < Math.min(n, done + round); i++) {
      const r = await registry.allocate({ name: `${synchronous}-${i}`, realm }, { exclusions });
      if (r.via === 'hash') viaHash++;
    }
    rounds.push(Math.round((Math.min(round, n - done) * 1000) / (performance.now() - r0)));
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await registry.close();
  // CPU time of this process (user + system): what the allocations cost whatever else the machine runs.
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { perSecond: median(rounds), roundsPerSecond: rounds, perCpuSecond: Math.round((n * 1000) / cpuMs), viaHash, msEach: ms / n };
}

async function whoLatency(): Promise<{ libraryMedianMs: number; libraryP99Ms: number; cliMedianMs: number; nodeStartMedianMs: number }> {
  const registry = new StoreRegistry(new SqliteStore({ path: dbPath }));
  const random = seededRandom(7);
  const times: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const id = 0x80000 + random.below(0x70000000 - 0x80000);
    const t0 = performance.now();
    await whoHolds(registry, id, { realm: 'realm-2' });
    times.push(performance.now() - t0);
  }
  await registry.close();
  const wall = (argv: string[]): number => {
    const t0 = performance.now();
    spawnSync(process.execPath, argv, { stdio: 'ignore' });
    return performance.now() - t0;
  };
  const cli: number[] = [];
  const node: number[] = [];
  for (let i = 0; i < 15; i++) {
    cli.push(wall([MAIN, 'who', String(0x10000000 + i * 977), '--db', dbPath, '--realm', 'realm-2']));
    node.push(wall(['-e', '0']));
  }
  return { libraryMedianMs: median(times), libraryP99Ms: pct(times, 0.99), cliMedianMs: median(cli), nodeStartMedianMs: median(node) };
}

interface SchemeRow {
  scheme: string;
  fill: string;
  trials: number;
  failures: number;
  failureRate: number;
  usPerChoice: number;
  distinctStarts: number;
  freeSlots: number;
}

/** The three schemes over the same nearly full pool (in memory: the choice alone). */
function atFill(fillFraction: number, trials: number): SchemeRow[] {
  const total = (0x70000000 - 0x80000) / SLOT;
  const free = Math.round(total * (1 - fillFraction));
  const random = seededRandom(99);
  const freeSet = new Set<number>();
  while (freeSet.size < free) freeSet.add(random.below(total));
  const blocked = new SlotMap();
  const taken: Taken = { starts: [], ends: [] };
  for (let s = 0; s < total; s++) {
    if (freeSet.has(s)) continue;
    const start = 0x80000 + s * SLOT;
    blocked.block(start, start + SLOT);
    const last = taken.ends.length - 1;
    if (last >= 0 && taken.ends[last] === start) taken.ends[last] = start + SLOT;
    else {
      taken.starts.push(start);
      taken.ends.push(start + SLOT);
    }
  }
  const fill = `${((100 * (total - free)) / total).toFixed(1)}%`;
  const run = (scheme: string, choose: (i: number) => number | undefined): SchemeRow => {
    let failures = 0;
    const starts = new Set<number>();
    const t0 = performance.now();
    for (let i = 0; i < trials; i++) {
      const s = choose(i);
      if (s === undefined) failures++;
      else starts.add(s);
    }
    const us = ((performance.now() - t0) * 1000) / trials;
    return {
      scheme,
      fill,
      trials,
      failures,
      failureRate: failures / trials,
      usPerChoice: us,
      distinctStarts: starts.size,
      freeSlots: free,
    };
  };
  return [
    run(
      'fsidmap: hash, then uniform among free slots',
      (i) => chooseRange(`bench-${i}`, SLOT, { pool: DEFAULT_POOL, blocked }, cryptoRandom).start,
    ),
    run('first-fit scan (Incus, Podman, useradd)', () => firstFit(DEFAULT_POOL, taken, SLOT)),
    run('retry-random, 100 tries (systemd-nspawn pick)', () => retryRandom(DEFAULT_POOL, taken, SLOT, cryptoRandom)),
  ];
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0];
  const t0 = performance.now();
  prefill();
  const setupS = (performance.now() - t0) / 1000;
  const normal = await allocRate('NORMAL', 'realm-1', MEASURED, 250);
  const full = await allocRate('FULL', 'realm-3', MEASURED_FULL, 50);
  const who = await whoLatency();
  const live = new Database(dbPath, { readonly: true }).prepare('SELECT count(*) FROM allocations').pluck().get() as number;
  const schemes = [...atFill(0.99, 20000), ...atFill(0.999, 20000)];
  rmSync(dir, { recursive: true, force: true });

  const machine = `${cpus()[0]?.model ?? 'cpu'} (${cpus().length} cores), Linux ${release()}, Node ${process.version}`;
  console.log(`machine: ${machine}; load average ${loadBefore.toFixed(1)} at start, ${loadavg()[0].toFixed(1)} at end`);
  console.log(
    `registry: SQLite (WAL), ${live.toLocaleString('en')} live allocations in ${REALMS} realms (prefill ${setupS.toFixed(1)} s)\n`,
  );
  console.log('allocation rate, one process, one transaction per allocation (goal >= 2,000/s):');
  const rng = (r: Rate): string =>
    `rounds ${Math.min(...r.roundsPerSecond).toLocaleString('en')}–${Math.max(...r.roundsPerSecond).toLocaleString('en')}/s`;
  console.log(
    `  synchronous=NORMAL (default)  ${normal.perSecond.toLocaleString('en')}/s wall (median round; ${rng(normal)}), ${normal.perCpuSecond.toLocaleString('en')}/s per CPU-second`,
  );
  console.log(
    `                                ${normal.viaHash} of ${MEASURED} landed on their hash slot, the rest uniform among the free slots of an 87%-full realm`,
  );
  console.log(
    `  synchronous=FULL (fsync each) ${full.perSecond.toLocaleString('en')}/s wall (median round; ${rng(full)}), ${full.perCpuSecond.toLocaleString('en')}/s per CPU-second; NORMAL/FULL ${(normal.perSecond / full.perSecond).toFixed(1)}x`,
  );
  console.log('\nfsidmap who ID:');
  console.log(
    `  library call  median ${who.libraryMedianMs.toFixed(3)} ms, p99 ${who.libraryP99Ms.toFixed(3)} ms (registry lookup + /etc files + explanation)`,
  );
  console.log(
    `  CLI process   median ${who.cliMedianMs.toFixed(1)} ms; node -e 0 median ${who.nodeStartMedianMs.toFixed(1)} ms (ratio ${(who.cliMedianMs / who.nodeStartMedianMs).toFixed(2)}x)`,
  );
  console.log("\nchoosing a slot in systemd's container range when nearly full (same taken set for all schemes):");
  const w = Math.max(...schemes.map((s) => s.scheme.length));
  console.log(`  ${'scheme'.padEnd(w)}  fill    failed      µs/choice  distinct starts / free slots`);
  for (const s of schemes) {
    console.log(
      `  ${s.scheme.padEnd(w)}  ${s.fill.padEnd(6)}  ${(100 * s.failureRate).toFixed(1).padStart(5)}%   ${s.usPerChoice.toFixed(1).padStart(9)}  ${s.distinctStarts} / ${s.freeSlots}`,
    );
  }
  const out = join(here, '..', '..', 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, 'alloc.json'),
    JSON.stringify(
      {
        machine,
        loadAverage: { start: loadBefore, end: loadavg()[0] },
        date: new Date().toISOString(),
        liveAllocations: live,
        realms: REALMS,
        allocationsPerSecond: { goal: 2000, measured: MEASURED, normal, full },
        who,
        schemes,
      },
      null,
      2,
    ) + '\n',
  );
}

await main();
