// The PostgreSQL registry as a cluster deploys it: three hosts (network,
// UTS and mount namespaces: their own address, hostname, machine id and
// /run) joined by a bridge to a PostgreSQL server on its own address, TLS
// verify-full against a CA made here, a least-privilege role, the URL in a
// root-only file. Concurrent allocation, a host SIGKILLed, the server
// restarted under load, a host cut off while holding the chooser's lock,
// ownership across hosts, a rolling schema upgrade.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { hostRoleGrants, openRegistry, postgresMigrations } from '../../src/registry/index.js';
import { DB_ADDR, HOST_ROLE, type Host, type World, buildWorld, worldSkipReason } from '../support/netns-world.js';

const skip = worldSkipReason();
const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const WORKER = join(process.cwd(), 'dist', 'test', 'support', 'multihost-worker.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Line {
  i?: number;
  name?: string;
  uid?: number;
  gid?: number;
  created?: boolean;
  error?: string;
  message?: string;
  t: number;
  ms?: number;
  done?: boolean;
  locked?: boolean;
}

interface Worker {
  readonly proc: ChildProcess;
  readonly lines: Line[];
  readonly exited: Promise<number | null>;
  ok(): Line[];
  waitFor(pred: (lines: Line[]) => boolean, what: string, ms?: number): Promise<void>;
}

function startWorker(host: Host, args: string[]): Worker {
  const proc = host.start(process.execPath, [WORKER, ...args]);
  const lines: Line[] = [];
  let buf = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let n = buf.indexOf('\n'); n >= 0; n = buf.indexOf('\n')) {
      lines.push(JSON.parse(buf.slice(0, n)) as Line);
      buf = buf.slice(n + 1);
    }
  });
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    lines,
    exited,
    ok: () => lines.filter((l) => l.name !== undefined),
    async waitFor(pred, what, ms = 120000) {
      const end = Date.now() + ms;
      while (!pred(lines)) {
        if (Date.now() > end) throw new Error(`${host.name}: timed out waiting for ${what}; stderr: ${err.slice(-1000)}`);
        if (proc.exitCode !== null && !pred(lines))
          throw new Error(`${host.name}: worker exited ${proc.exitCode} before ${what}: ${err.slice(-1000)}`);
        await sleep(50);
      }
    },
  };
}

if (skip) {
  test('multi-host registry', { skip }, () => {});
} else {
  let world: World;
  let h1: Host, h2: Host, h3: Host;
  const cli = (h: Host, args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = h.run(process.execPath, [MAIN, ...args], { env });
    return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
  };
  const json = (h: Host, args: string[]) => {
    const r = cli(h, [...args, '--json']);
    assert.equal(r.status, 0, `${h.name} ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const errorOf = (r: { stderr: string }) => JSON.parse(r.stderr.trim().split('\n').pop()!).error;
  /** Migrates as the owner role and grants the host role, as docs/multihost.md says an operator does. */
  const ownerSetup = (database: string) => async (ownerUrl: string) => {
    const r = await openRegistry({ db: ownerUrl });
    await r.close();
    const c = await world.admin(database);
    await c.query(hostRoleGrants(HOST_ROLE));
    await c.end();
  };
  /** Every pair of allocations of a scope whose uid or gid ranges meet: must be none. */
  const overlaps = async (database: string) => {
    const c = await world.admin(database);
    try {
      const r = await c.query(`SELECT count(*)::int AS n FROM allocations a JOIN allocations b
        ON a.id < b.id AND a.scope_key = b.scope_key AND (a.uid_span && b.uid_span OR a.gid_span && b.gid_span)`);
      return r.rows[0].n as number;
    } finally {
      await c.end();
    }
  };
  const rows = async (database: string, where = 'true') => {
    const c = await world.admin(database);
    try {
      return (
        await c.query(`SELECT a.name, a.uid_start::float8 AS uid, a.gid_start::float8 AS gid, a.holder_host, a.holder_machine
          FROM allocations a WHERE ${where}`)
      ).rows as { name: string; uid: number; gid: number; holder_host: string | null; holder_machine: string | null }[];
    } finally {
      await c.end();
    }
  };

  before(async () => {
    world = await buildWorld(3);
    [h1, h2, h3] = world.hosts;
    await world.createDatabase('registry', ownerSetup('registry'));
  });
  after(() => world?.stop());

  test('multihost: 3 hosts × 300 allocations at once: no overlap, list and who agree on every host, each records its host', async () => {
    const workers = [h1, h2, h3].map((h) => startWorker(h, [`load-${h.name}`, '300']));
    await Promise.all(workers.map((w) => w.waitFor((l) => l.some((x) => x.done), 'done')));
    for (const w of workers)
      assert.deepEqual(
        w.lines.filter((l) => l.error),
        [],
        'no errors without faults',
      );
    assert.equal(await overlaps('registry'), 0);
    const stored = await rows('registry', "a.name LIKE 'load-%'");
    assert.equal(stored.length, 900);
    const byName = new Map(stored.map((r) => [r.name, r]));
    for (const [k, w] of workers.entries()) {
      for (const l of w.ok()) {
        const r = byName.get(l.name!);
        assert.equal(r?.uid, l.uid, `${l.name} is where its host was told`);
        assert.equal(r?.holder_host, `h${k + 1}`);
        assert.equal(r?.holder_machine, world.hosts[k].machineId);
      }
    }
    // A full scan of the 32-bit space in JS too: sorted starts a slot apart at least.
    const uids = stored.map((r) => r.uid).sort((a, b) => a - b);
    for (let i = 1; i < uids.length; i++) assert.ok(uids[i] - uids[i - 1] >= 65536, 'disjoint uid ranges');
    const lists = [h1, h2, h3].map((h) => json(h, ['list']) as { name: string; uid: { start: number } }[]);
    assert.equal(lists[0].length, 900);
    assert.deepEqual(lists[1], lists[0]);
    assert.deepEqual(lists[2], lists[0]);
    for (const probe of [lists[0][0], lists[0][450], lists[0][899]]) {
      const id = probe.uid.start + 1000;
      const answers = [h1, h2, h3].map((h) =>
        (json(h, ['who', String(id)]).holders as { source: string; allocation?: { name: string } }[])
          .filter((x) => x.source === 'allocation')
          .map((x) => x.allocation!.name),
      );
      assert.deepEqual(answers[0], [probe.name, probe.name], 'uid and gid side');
      assert.deepEqual(answers[1], answers[0]);
      assert.deepEqual(answers[2], answers[0]);
    }
  });

  test('multihost: a host SIGKILLed, the server restarted under load, a host cut off: bounded clear errors, resumed, nothing lost or doubled', async (t) => {
    const N = 250;
    const start = (h: Host) => startWorker(h, [`fault-${h.name}`, String(N), '15']);
    const w1 = start(h1);
    const w2 = start(h2);
    const w3 = start(h3);
    // h2 dies mid-run: SIGKILL to its whole process chain.
    await w2.waitFor((l) => l.filter((x) => x.name).length >= 30, 'h2 30 allocations');
    process.kill(-w2.proc.pid!, 'SIGKILL');
    await w2.exited;
    const killedRun = w2.ok();
    // The server restarts while h1 and h3 allocate.
    await w1.waitFor((l) => l.filter((x) => x.name).length >= 60, 'h1 60 allocations');
    const restartAt = Date.now();
    world.restartDb('fast');
    const restartedAt = Date.now();
    await w1.waitFor((l) => l.some((x) => x.name && x.t > restartedAt), 'h1 resuming after the restart');
    await w3.waitFor((l) => l.some((x) => x.name && x.t > restartedAt), 'h3 resuming after the restart');
    // h3's link goes down for 6 s: its packets vanish (no refusal to notice).
    const cutAt = Date.now();
    h3.cut();
    await sleep(6000);
    h3.mend();
    const mendAt = Date.now();
    await Promise.all([w1, w3].map((w) => w.waitFor((l) => l.some((x) => x.done), 'done', 180000)));
    // h2 comes back and runs again from the start: what it had is returned, not allocated twice.
    const w2b = start(h2);
    await w2b.waitFor((l) => l.some((x) => x.done), 'h2 done');

    const errors = [w1, w2b, w3].flatMap((w) => w.lines.filter((l) => l.error));
    const worst = Math.max(0, ...errors.map((e) => e.ms ?? 0));
    t.diagnostic(
      `h2 killed after ${killedRun.length}; restart ${restartedAt - restartAt} ms; cut ${mendAt - cutAt} ms; ` +
        `failed attempts h1 ${w1.lines.filter((l) => l.error).length}, h3 ${w3.lines.filter((l) => l.error).length}, ` +
        `h2 rerun ${w2b.lines.filter((l) => l.error).length}; slowest failure ${worst} ms; ` +
        `codes ${[...new Set(errors.map((e) => e.error))].join(',')}`,
    );
    for (const e of errors) {
      assert.ok(['ERR_DB_UNREACHABLE', 'ERR_DB_BUSY'].includes(e.error!), JSON.stringify(e));
      assert.ok(e.message!.includes(DB_ADDR), `the error names the database: ${e.message}`);
      assert.ok(!e.message!.includes('s3cret'), 'no password in messages');
      if (e.ms !== undefined) assert.ok(e.ms < 15000, `a failed attempt ends within its bound, not ${e.ms} ms`);
    }
    const during = (w: Worker, from: number, to: number) => w.lines.filter((l) => l.t >= from && l.t <= to);
    assert.ok(
      [w1, w3].some((w) => during(w, restartAt - 100, restartedAt + 2000).some((l) => l.error)),
      'the restart was felt by a host',
    );
    assert.ok(
      during(w3, cutAt, mendAt).some((l) => l.error === 'ERR_DB_UNREACHABLE'),
      'the cut-off host was told',
    );
    assert.ok(
      during(w1, cutAt + 3000, mendAt).some((l) => l.name),
      'the other hosts allocated while h3 was cut off',
    );

    assert.equal(await overlaps('registry'), 0);
    const stored = await rows('registry', "a.name LIKE 'fault-%'");
    assert.equal(stored.length, 3 * N, 'every name exactly once');
    const byName = new Map(stored.map((r) => [r.name, r]));
    for (const l of [...w1.ok(), ...killedRun, ...w2b.ok(), ...w3.ok()]) assert.equal(byName.get(l.name!)?.uid, l.uid, l.name);
    const again = new Map(w2b.ok().map((l) => [l.name, l]));
    for (const l of killedRun) assert.equal(again.get(l.name)?.created, false, `${l.name} was kept, not re-made`);
  });

  test('multihost: a host cut off while holding the chooser lock: the server frees it within the bound and the others go on', async (t) => {
    const holder = startWorker(h3, ['--hold-scope', '30']);
    await holder.waitFor((l) => l.some((x) => x.locked), 'the lock');
    h3.cut();
    try {
      const t0 = Date.now();
      const r = cli(h1, ['alloc', 'after-lock', '--json']);
      const waited = Date.now() - t0;
      assert.equal(r.status, 0, r.stderr);
      t.diagnostic(`h1's alloc behind the silent lock holder took ${waited} ms (FSIDMAP_DB_TIMEOUT=2)`);
      // Without idle_in_transaction_session_timeout this would wait for TCP keepalive to give up (minutes to hours).
      assert.ok(waited < 15000, `h1 waited ${waited} ms`);
    } finally {
      h3.mend();
      process.kill(-holder.proc.pid!, 'SIGKILL');
      await holder.exited;
    }
  });

  test('multihost: gc on one host never releases another host’s allocations; a dead host’s only with gc --dead-host', async () => {
    const realm = ['--realm', 'own'];
    const sleepers = new Map<Host, ChildProcess>();
    for (const h of [h1, h2, h3]) {
      const p = h.start('sleep', ['600']);
      sleepers.set(h, p);
      await sleep(200);
      json(h, ['alloc', `own-${h.name}`, '--holder', String(p.pid), ...realm]);
    }
    const listed = json(h2, ['list', ...realm]) as { name: string; holder: { host: string; machineId: string } }[];
    assert.deepEqual(
      listed.map((a) => [a.name, a.holder.host, a.holder.machineId]).sort(),
      [h1, h2, h3].map((h) => [`own-${h.name}`, h.name, h.machineId]),
    );
    const kill = async (h: Host) => {
      const p = sleepers.get(h)!;
      p.kill('SIGKILL');
      await new Promise((r) => p.once('exit', r));
    };
    await kill(h1);
    const onH2 = json(h2, ['gc', ...realm]);
    assert.deepEqual(onH2.released, [], "h1's holder is dead but h2 cannot judge it");
    assert.equal(onH2.elsewhere, 2);
    const onH1 = json(h1, ['gc', ...realm]);
    assert.deepEqual(
      onH1.released.map((a: { name: string }) => a.name),
      ['own-h1'],
    );
    await kill(h3); // h3 dies for good
    assert.deepEqual(json(h1, ['gc', ...realm]).released, []);
    const refused = cli(h1, ['gc', '--dead-host', 'h1', '--json', ...realm]);
    assert.equal(refused.status, 2);
    assert.equal(errorOf(refused).code, 'ERR_USAGE');
    const declared = json(h1, ['gc', '--dead-host', 'h3', ...realm]);
    assert.deepEqual(
      declared.released.map((a: { name: string }) => a.name),
      ['own-h3'],
    );
    assert.deepEqual(
      (json(h3, ['list', ...realm]) as { name: string }[]).map((a) => a.name),
      ['own-h2'],
      "h2's live allocation stays",
    );
    sleepers.get(h2)!.kill('SIGKILL');
  });

  test('multihost: deployment: root-only URL file, TLS verify-full, no plain connections, the host role cannot rewrite or migrate', async () => {
    // A URL file others could read is refused before anything connects.
    const loose = join(h1.dir, 'loose.url');
    writeFileSync(loose, world.hostUrl('registry') + '\n');
    chmodSync(loose, 0o644);
    const r1 = cli(h1, ['list', '--json'], { FSIDMAP_DB_FILE: loose });
    assert.equal(r1.status, 1);
    assert.equal(errorOf(r1).code, 'ERR_DB_URL_FILE');
    assert.match(errorOf(r1).hint, /chmod 600/);
    // Plain TCP is refused by the server; a certificate from another CA by the client.
    const plain = cli(h1, ['list', '--json', '--db', world.hostUrl('registry').replace(/sslmode=verify-full/, 'sslmode=disable')]);
    assert.equal(plain.status, 1);
    assert.equal(errorOf(plain).code, 'ERR_DB_UNREACHABLE');
    assert.ok(!plain.stderr.includes('s3cret'));
    const otherCa = world.hostUrl('registry').replace(/ca\.crt/, 'other.crt');
    const tls = cli(h1, ['list', '--json', '--db', otherCa]);
    assert.equal(tls.status, 1);
    assert.equal(errorOf(tls).code, 'ERR_DB_TLS', tls.stderr);
    // The host role: allocations and holders yes; ranges, tables and schema no.
    const c = new pg.Client({ host: join(world.dir, 'sock'), port: 5432, user: HOST_ROLE, database: 'registry' });
    await c.connect();
    try {
      const denied = async (sql: string) =>
        assert.rejects(c.query(sql), (e: { code?: string }) => e.code === '42501', `${sql} must be denied`);
      await denied('UPDATE allocations SET uid_start = uid_start + 65536');
      await denied('TRUNCATE allocations');
      await denied('DROP TABLE allocations');
      await denied('ALTER TABLE allocations DROP CONSTRAINT allocations_uid_no_overlap');
      await denied('CREATE TABLE intruder (x int)');
      await denied('DELETE FROM fsidmap_schema');
      await c.query('UPDATE allocations SET holder_host = holder_host WHERE false');
    } finally {
      await c.end();
    }
    // A database the owner has not migrated: the host role is told what to do, not left with half a schema.
    await world.createDatabase('fresh', async () => {});
    const fresh = cli(h1, ['alloc', 'x', '--json', '--db', world.hostUrl('fresh')]);
    assert.equal(fresh.status, 1);
    assert.equal(errorOf(fresh).code, 'ERR_DB_DENIED', fresh.stderr);
  });

  test('multihost: rolling upgrade: an additive migration marked writersFrom keeps older hosts writing; a breaking one stops them', async () => {
    await world.createDatabase('upgrade', ownerSetup('upgrade'));
    const db = ['--db', world.hostUrl('upgrade')];
    json(h1, ['alloc', 'before', ...db]);
    const L = postgresMigrations.length;
    const additive = [
      ...postgresMigrations,
      { version: L + 1, description: 'test: a note', sql: 'ALTER TABLE allocations ADD COLUMN note text', writersFrom: L },
    ];
    const r = await openRegistry({ db: world.ownerUrl('upgrade'), migrations: additive });
    assert.equal(r.info.schemaVersion, L + 1);
    await r.close();
    // Hosts still on this version (schema L) go on reading and writing.
    json(h2, ['alloc', 'during', ...db]);
    assert.deepEqual((json(h3, ['list', ...db]) as { name: string }[]).map((a) => a.name).sort(), ['before', 'during']);
    const breaking = [
      ...additive,
      { version: L + 2, description: 'test: breaking', sql: 'ALTER TABLE allocations ADD COLUMN tenant text' },
    ];
    await (await openRegistry({ db: world.ownerUrl('upgrade'), migrations: breaking })).close();
    const refused = cli(h1, ['alloc', 'after', '--json', ...db]);
    assert.equal(refused.status, 1);
    assert.equal(errorOf(refused).code, 'ERR_DB_SCHEMA');
    assert.match(errorOf(refused).hint, /upgrade fsidmap/);
  });
}
