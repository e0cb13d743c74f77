// Many allocator processes at once, on SQLite and on a real PostgreSQL
// server; and processes killed with SIGKILL in the middle of allocating.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { type Allocation, SLOT, hostExclusions } from '../../src/alloc/index.js';
import { openRegistry } from '../../src/registry/index.js';
import { type PgCluster, pgSkipReason, startCluster } from '../support/pg-cluster.js';

const WORKER = join(process.cwd(), 'dist', 'test', 'support', 'alloc-worker.js');
const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const POOL = 0x10000000;
const dir = mkdtempSync(join(tmpdir(), 'fsidt5-conc-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  prefix: string;
  child: ChildProcess;
  lines: string[];
  done: Promise<number | null>;
}

function startWorker(db: string, prefix: string, count: number, mode: 'alloc' | 'churn', slots: number): Run {
  const child = spawn(process.execPath, [WORKER, db, prefix, String(count), mode, String(POOL), String(slots)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let buf = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const done = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      if (code !== 0 && code !== null) process.stderr.write(`worker ${prefix} exited ${code}: ${err}\n`);
      resolve(code);
    }),
  );
  return { prefix, child, lines, done };
}

function assertDisjoint(list: readonly Allocation[]): void {
  for (const side of ['uid', 'gid'] as const) {
    const sorted = [...list].sort((a, b) => a[side].start - b[side].start);
    for (let i = 1; i < sorted.length; i++)
      assert.ok(sorted[i - 1][side].end <= sorted[i][side].start, `${sorted[i - 1].name} and ${sorted[i].name} overlap`);
  }
}

/** What the worker's lines prove about the registry after it died at any point. */
function checkAgainstLog(prefix: string, lines: readonly string[], stored: Map<string, Allocation>): void {
  const committed = new Map<string, number>();
  const maybeAllocated = new Set<string>();
  const maybeReleased = new Set<string>();
  for (const l of lines) {
    const [op, name, start] = l.split(' ');
    if (op === 'a') maybeAllocated.add(name);
    if (op === 'A') committed.set(name, Number(start));
    if (op === 'r') maybeReleased.add(name);
    if (op === 'R') {
      committed.delete(name);
      maybeReleased.delete(name);
    }
  }
  for (const [name, start] of committed) {
    if (maybeReleased.has(name)) continue; // killed inside its release: either state is correct
    assert.equal(stored.get(name)?.uid.start, start, `committed allocation ${name} was lost or changed`);
  }
  for (const name of stored.keys()) {
    if (!name.startsWith(`${prefix}-`)) continue;
    assert.ok(committed.has(name) || maybeAllocated.has(name), `${name} is stored but was never allocated`);
  }
}

async function storedMap(db: string): Promise<Map<string, Allocation>> {
  const r = await openRegistry({ db });
  try {
    return new Map((await r.list()).map((a) => [a.name, a]));
  } finally {
    await r.close();
  }
}

test('sqlite: 6 processes allocating at once from one pool get disjoint ranges and none is lost', async () => {
  const db = join(dir, 'many.db');
  const runs = Array.from({ length: 6 }, (_, i) => startWorker(db, `w${i}`, 50, 'alloc', 400));
  const codes = await Promise.all(runs.map((r) => r.done));
  assert.deepEqual(codes, [0, 0, 0, 0, 0, 0]);
  const stored = await storedMap(db);
  assert.equal(stored.size, 300);
  for (const r of runs) checkAgainstLog(r.prefix, r.lines, stored);
  assertDisjoint([...stored.values()]);
});

test('sqlite: 12 CLI processes started at once each get their own range', async () => {
  const db = join(dir, 'cli.db');
  const outs = await Promise.all(
    Array.from(
      { length: 12 },
      (_, i) =>
        new Promise<string>((resolve, reject) => {
          const c = spawn(process.execPath, [MAIN, 'alloc', `cli-${i}`, '--pool', `${POOL}:${16 * SLOT}`, '--db', db, '--json'], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let s = '';
          c.stdout!.on('data', (d: Buffer) => {
            s += d.toString();
          });
          c.on('close', (code) => (code === 0 ? resolve(s) : reject(new Error(`cli-${i} exited ${code}`))));
        }),
    ),
  );
  const got = outs.map((o) => JSON.parse(o));
  assert.equal(new Set(got.map((a) => a.uid.start)).size, 12);
  const stored = await storedMap(db);
  assert.equal(stored.size, 12);
  for (const a of got) assert.equal(stored.get(a.name)?.uid.start, a.uid.start);
});

/** Kills pairs of churning workers at random moments; returns how many died with an operation in flight. */
async function killRounds(db: string, rounds: number, check: () => Promise<void>): Promise<number> {
  let inFlight = 0;
  for (let round = 0; round < rounds; round++) {
    const runs = [startWorker(db, `k${round}a`, 0, 'churn', 2000), startWorker(db, `k${round}b`, 0, 'churn', 2000)];
    // Let them get going, then kill each at a different moment.
    for (const r of runs) {
      const target = 10 + Math.floor(Math.random() * 40);
      while (r.lines.length < target && r.child.exitCode === null) await new Promise((res) => setTimeout(res, 2));
      r.child.kill('SIGKILL');
    }
    const codes = await Promise.all(runs.map((r) => r.done));
    assert.ok(
      codes.every((c) => c === null),
      `workers died of SIGKILL, not an error: ${codes}`,
    );
    inFlight += runs.filter((r) => /^[ar] /.test(r.lines[r.lines.length - 1] ?? '')).length;
    const stored = await storedMap(db);
    for (const r of runs) checkAgainstLog(r.prefix, r.lines, stored);
    assertDisjoint([...stored.values()]);
    await check();
  }
  return inFlight;
}

test('sqlite: processes killed with SIGKILL mid-allocation leave a consistent registry', async (t) => {
  const db = join(dir, 'kill.db');
  const inFlight = await killRounds(db, 5, async () => {
    const raw = new Database(db);
    try {
      assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
      assert.deepEqual(raw.pragma('foreign_key_check'), []);
    } finally {
      raw.close();
    }
  });
  t.diagnostic(`${inFlight} of 10 workers were killed with an allocation or release in flight`);
  // And it keeps working: a fresh process allocates.
  const r = await openRegistry({ db });
  try {
    const before = (await r.list()).length;
    await r.allocate({ name: 'after-kills' }, { exclusions: hostExclusions({ subuid: [], subgid: [], users: [], groups: [] }) });
    assert.equal((await r.list()).length, before + 1);
  } finally {
    await r.close();
  }
});

const pgSkip = pgSkipReason();
let cluster: PgCluster;
if (pgSkip) {
  test('postgres concurrency', { skip: pgSkip }, () => {});
} else {
  before(async () => {
    cluster = await startCluster();
  });
  after(() => cluster?.stop());

  test('postgres: 8 processes allocating at once get disjoint ranges and none is lost', async () => {
    const url = await cluster.createDatabase();
    const runs = Array.from({ length: 8 }, (_, i) => startWorker(url, `p${i}`, 30, 'alloc', 300));
    assert.deepEqual(await Promise.all(runs.map((r) => r.done)), [0, 0, 0, 0, 0, 0, 0, 0]);
    const stored = await storedMap(url);
    assert.equal(stored.size, 240);
    for (const r of runs) checkAgainstLog(r.prefix, r.lines, stored);
    assertDisjoint([...stored.values()]);
  });

  test('postgres: clients killed with SIGKILL mid-allocation leave a consistent registry', async (t) => {
    const url = await cluster.createDatabase();
    const inFlight = await killRounds(url, 3, async () => {});
    t.diagnostic(`${inFlight} of 6 clients were killed with an allocation or release in flight`);
  });
}
