// fsidmap serve with 100,000 allocations: first paint and the strip drawn
// with data, measured by the browser's own performance timing (Debian's
// Chromium through playwright-core), the server's memory while the registry
// keeps changing, and the change stamp's cost on SQLite and PostgreSQL.
//
// 100,000 allocations of 65536 ids do not fit one id space (28,664 slots in
// systemd's container range), so the registry holds 4 realms of 25,000
// (as bench/alloc.bench.ts); the page shows one realm: 25,000 allocations,
// plus, in the second setting, a 100,000-line /etc/subuid (125,000 ranges
// drawn, and a 100,000-line audit).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { DEFAULT_POOL, SLOT, SlotMap, chooseRange, hostExclusions, reservedSet, seededRandom } from '../src/alloc/index.js';
import { openRegistry } from '../src/registry/index.js';
import { SqliteStore } from '../src/registry/sqlite.js';
import { launchBrowser } from '../test/support/browser.js';
import { startCluster } from '../test/support/pg-cluster.js';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'src', 'cli', 'main.js');
const REALMS = 4;
const PER_REALM = 25_000;
const LOADS = 7;
const CHANGES = 40;
const dir = mkdtempSync(join(tmpdir(), 'fsidt5-bench-serve-'));
const dbPath = join(dir, 'registry.db');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function prefill(): void {
  new SqliteStore({ path: dbPath }).close();
  const db = new Database(dbPath);
  const random = seededRandom(2027);
  const insert =
    db.prepare(`INSERT INTO allocations (realm_id, name, kind, scope_key, uid_start, uid_count, gid_start, gid_count, created_at)
    VALUES (?, ?, 'container', ?, ?, 65536, ?, 65536, ?)`);
  const now = new Date().toISOString();
  db.transaction(() => {
    for (let r = 1; r <= REALMS; r++) {
      db.prepare('INSERT INTO realms (id, name) VALUES (?, ?)').run(r, `realm-${r}`);
      const blocked = SlotMap.of(reservedSet());
      for (let i = 0; i < PER_REALM; i++) {
        const c = chooseRange(`r${r}-c${i}`, SLOT, { pool: DEFAULT_POOL, blocked }, random);
        blocked.block(c.start, c.end);
        insert.run(r, `r${r}-container-${i}`, -r, c.start, c.start, now);
      }
    }
  })();
  db.close();
}

/** A host root whose /etc/subuid and /etc/subgid have 100,000 lines (one owner each, 65536 ids, some overlapping). */
function bigEtc(): string {
  const root = join(dir, 'host');
  mkdirSync(join(root, 'etc'), { recursive: true });
  const users = ['root:x:0:0::/root:/bin/sh'];
  const lines: string[] = [];
  for (let i = 0; i < 100_000; i++) lines.push(`user${i}:${100000 + i * 60000}:65536`);
  writeFileSync(join(root, 'etc', 'passwd'), users.join('\n') + '\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\n');
  writeFileSync(join(root, 'etc', 'subuid'), lines.join('\n') + '\n');
  writeFileSync(join(root, 'etc', 'subgid'), lines.join('\n') + '\n');
  return root;
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function startServe(args: string[]): Promise<{ child: ChildProcess; url: string; startMs: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI, 'serve', '--db', dbPath, '--realm', 'realm-1', '--json', '--interval', '250', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve((JSON.parse(out) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });
  return { child, url, startMs: performance.now() - t0 };
}

interface PageTiming {
  fcp: number;
  stripDrawn: number;
  dataBytes: number;
}

async function measurePage(url: string): Promise<PageTiming[]> {
  const browser = await launchBrowser();
  const out: PageTiming[] = [];
  try {
    for (let i = 0; i < LOADS; i++) {
      const page = await browser.context.newPage();
      await page.goto(url);
      await page.waitForSelector('body[data-ready="1"]', { timeout: 60000 });
      out.push(
        await page.evaluate(() => {
          const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN;
          const strip = performance.getEntriesByName('fsidmap-strip-drawn')[0]?.startTime ?? NaN;
          const data = performance.getEntriesByType('resource').find((r) => r.name.endsWith('/api/space')) as
            PerformanceResourceTiming | undefined;
          return { fcp, stripDrawn: strip, dataBytes: data?.decodedBodySize ?? NaN };
        }),
      );
      await page.close();
    }
  } finally {
    await browser.close();
  }
  return out;
}

/** The server's RSS while the realm changes CHANGES times (one allocation, then its release, alternately). */
async function memoryUnderChanges(pid: number): Promise<number[]> {
  const registry = await openRegistry({ db: dbPath });
  const exclusions = hostExclusions({ users: [], groups: [], subuid: [], subgid: [] });
  const samples: number[] = [];
  try {
    for (let i = 0; i < CHANGES; i++) {
      if (i % 2 === 0) await registry.allocate({ name: 'bench-churn', realm: 'realm-1' }, { exclusions });
      else await registry.release('bench-churn', { realm: 'realm-1' });
      await sleep(700);
      samples.push(rssKb(pid));
    }
  } finally {
    await registry.close();
  }
  return samples;
}

function wallMs(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`fsidmap ${args.join(' ')} failed: ${r.stderr}`);
  return performance.now() - t0;
}

async function stampCosts(): Promise<{ sqliteMs: number; postgresMs: number; postgresRows: number }> {
  const sqlite = await openRegistry({ db: dbPath, readOnly: true });
  const ts: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    await sqlite.changeStamp();
    ts.push(performance.now() - t0);
  }
  await sqlite.close();
  const cluster = await startCluster();
  try {
    const url = await cluster.createDatabase();
    await (await openRegistry({ db: url })).close();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    // The bookkeeping trigger updates one scope row per insert: 25,000 updates of one row in one
    // transaction are slow in PostgreSQL, so the bulk load does its bookkeeping once, by hand.
    await c.query('ALTER TABLE allocations DISABLE TRIGGER allocations_scope_bookkeeping');
    for (let r = 1; r <= REALMS; r++) {
      await c.query('INSERT INTO realms (id, name) VALUES ($1, $2)', [r, `realm-${r}`]);
      await c.query('INSERT INTO scopes (key, generation, max_uid_count, max_gid_count) VALUES ($1, $2, 65536, 65536)', [-r, PER_REALM]);
      await c.query(
        `INSERT INTO allocations (realm_id, name, kind, scope_key, uid_start, uid_count, gid_start, gid_count, created_at)
        SELECT $1::bigint, 'c' || i, 'container', -($1::bigint), 524288 + i * 65536, 65536, 524288 + i * 65536, 65536, now() FROM generate_series(0, ${PER_REALM - 1}) AS i`,
        [r],
      );
    }
    await c.query('ALTER TABLE allocations ENABLE TRIGGER allocations_scope_bookkeeping');
    await c.query('ANALYZE');
    const rows = Number((await c.query('SELECT count(*) AS n FROM allocations')).rows[0].n);
    await c.end();
    const reg = await openRegistry({ db: url, readOnly: true });
    const tp: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      await reg.changeStamp();
      tp.push(performance.now() - t0);
    }
    await reg.close();
    return { sqliteMs: median(ts), postgresMs: median(tp), postgresRows: rows };
  } finally {
    cluster.stop();
  }
}

async function main(): Promise<void> {
  const load0 = loadavg()[0];
  const t0 = performance.now();
  prefill();
  const root = bigEtc();
  const setupS = (performance.now() - t0) / 1000;

  const settings: Record<string, { startMs: number; timings: PageTiming[]; rss: number[]; rssStart: number }> = {};
  for (const [label, args] of [
    ['25,000 of 100,000 allocations', ['--root', join(dir, 'empty-root')]],
    ['same + 100,000-line /etc/subuid and subgid', ['--root', root]],
  ] as const) {
    mkdirSync(join(dir, 'empty-root', 'etc'), { recursive: true });
    writeFileSync(join(dir, 'empty-root', 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
    writeFileSync(join(dir, 'empty-root', 'etc', 'group'), 'root:x:0:\n');
    const s = await startServe([...args]);
    try {
      const rssStart = rssKb(s.child.pid!);
      const timings = await measurePage(s.url);
      const rss = await memoryUnderChanges(s.child.pid!);
      settings[label] = { startMs: s.startMs, timings, rss, rssStart };
    } finally {
      s.child.kill('SIGTERM');
      await new Promise((r) => s.child.once('exit', r));
    }
  }
  const listMs = median([0, 1, 2].map(() => wallMs(['list', '--json', '--db', dbPath, '--realm', 'realm-1'])));
  const reportMs = median(
    [0, 1, 2].map(() =>
      wallMs(['report', '--html', join(dir, 'r.html'), '--db', dbPath, '--realm', 'realm-1', '--root', join(dir, 'empty-root')]),
    ),
  );
  const stamps = await stampCosts();

  console.log(
    `machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}; load average ${load0.toFixed(1)} at start, ${loadavg()[0].toFixed(1)} at end`,
  );
  console.log(
    `registry: SQLite, ${(REALMS * PER_REALM).toLocaleString('en')} allocations in ${REALMS} realms (set-up ${setupS.toFixed(1)} s); the page shows realm-1\n`,
  );
  console.log(`page loads in Chromium (${LOADS} each; median, min-max; goal: strip drawn < 1000 ms):`);
  for (const [label, s] of Object.entries(settings)) {
    const fcp = s.timings.map((t) => t.fcp);
    const strip = s.timings.map((t) => t.stripDrawn);
    console.log(`  ${label}`);
    console.log(
      `    first contentful paint ${median(fcp).toFixed(0)} ms (${Math.min(...fcp).toFixed(0)}-${Math.max(...fcp).toFixed(0)}); strip drawn with the data ${median(strip).toFixed(0)} ms (${Math.min(...strip).toFixed(0)}-${Math.max(...strip).toFixed(0)}); api/space ${(s.timings[0].dataBytes / 1e6).toFixed(2)} MB`,
    );
    const half = s.rss.slice(CHANGES / 2);
    console.log(
      `    server: started in ${s.startMs.toFixed(0)} ms; RSS ${(s.rssStart / 1024).toFixed(0)} MB after start, over ${CHANGES} changes ${(Math.min(...s.rss) / 1024).toFixed(0)}-${(Math.max(...s.rss) / 1024).toFixed(0)} MB (last ${CHANGES / 2}: ${(Math.min(...half) / 1024).toFixed(0)}-${(Math.max(...half) / 1024).toFixed(0)} MB)`,
    );
  }
  console.log('\nbeside it, the same realm read by the CLI (whole process, median of 3):');
  console.log(`  fsidmap list --json ${listMs.toFixed(0)} ms; fsidmap report --html ${reportMs.toFixed(0)} ms`);
  console.log('\nchange stamp, one call (median of 50):');
  console.log(
    `  SQLite (PRAGMA data_version) ${(stamps.sqliteMs * 1000).toFixed(0)} µs; PostgreSQL (sum of generations + holder columns over ${stamps.postgresRows.toLocaleString('en')} rows) ${stamps.postgresMs.toFixed(1)} ms`,
  );

  const out = join(here, '..', '..', 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, 'serve.json'),
    JSON.stringify(
      { allocations: REALMS * PER_REALM, shown: PER_REALM, settings, listMs, reportMs, stamps, load: [load0, loadavg()[0]] },
      null,
      2,
    ) + '\n',
  );
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
