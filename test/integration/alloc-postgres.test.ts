// The registry on a real PostgreSQL server: the shared contract, the
// exclusion constraints, migrations racing, many clients at once.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { type Allocation, SLOT, hostExclusions, poolOf, seededRandom } from '../../src/alloc/index.js';
import { isFsidmapError } from '../../src/errors.js';
import { type Registry, openRegistry, postgresMigrations } from '../../src/registry/index.js';
import { type PgCluster, pgSkipReason, startCluster } from '../support/pg-cluster.js';
import { registryContract } from '../support/registry-contract.js';

const skip = pgSkipReason();
let cluster: PgCluster;
const urls = new Map<string, string>();

if (skip) {
  test('postgres registry', { skip }, () => {});
} else {
  before(async () => {
    cluster = await startCluster();
  });
  after(() => cluster?.stop());

  registryContract('postgres', {
    async open(key?: string, options: { readOnly?: boolean } = {}) {
      let url = key ? urls.get(key) : undefined;
      if (!url) {
        url = await cluster.createDatabase();
        if (key) urls.set(key, url);
      }
      return openRegistry({ db: url, ...options });
    },
  });

  const NO_HOST = hostExclusions({ subuid: [], subgid: [], users: [], groups: [] });
  const code = (c: string) => (e: unknown) => isFsidmapError(e) && e.code === c;

  test('postgres: the exclusion constraint refuses an overlapping row written by hand, per scope', async () => {
    const url = await cluster.createDatabase();
    const r = await openRegistry({ db: url });
    const a = (await r.allocate({ name: 'a' }, { exclusions: NO_HOST })).allocation;
    await r.close();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const insert = (name: string, start: number, scope: number, parent: number | null) =>
        c.query(
          `INSERT INTO allocations (realm_id, name, kind, scope_key, parent_id, uid_start, uid_count, gid_start, gid_count, created_at)
         VALUES (1, $1, 'container', $2, $3, $4, 65536, $5, 65536, now())`,
          [name, scope, parent, start, start],
        );
      await assert.rejects(
        insert('same-uid', a.uid.start, -1, null),
        (e: { code?: string; constraint?: string }) => e.code === '23P01' && e.constraint === 'allocations_uid_no_overlap',
      );
      await assert.rejects(insert('inside', a.uid.start + 65536 * 0, -1, null), (e: { code?: string }) => e.code === '23P01');
      await assert.rejects(c.query('UPDATE allocations SET uid_start = uid_start + 65536'), /FSIDMAP_IMMUTABLE/);
      await insert('child', a.uid.start, 1, 1); // a child may overlap its parent: another scope
      await assert.rejects(insert('child2', a.uid.start, 1, 1), (e: { code?: string }) => e.code === '23P01');
      await assert.rejects(c.query('DELETE FROM allocations WHERE id = 1'), (e: { code?: string }) => e.code === '23503');
    } finally {
      await c.end();
    }
  });

  test('postgres: many openers of a fresh database migrate it exactly once', async () => {
    const url = await cluster.createDatabase();
    const regs = await Promise.all(Array.from({ length: 8 }, () => openRegistry({ db: url })));
    for (const r of regs) assert.equal(r.info.schemaVersion, postgresMigrations.length);
    await Promise.all(regs.map((r) => r.close()));
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const versions = (await c.query('SELECT version FROM fsidmap_schema ORDER BY version')).rows.map((x) => x.version);
    await c.end();
    assert.deepEqual(
      versions,
      postgresMigrations.map((m) => m.version),
    );
  });

  test("postgres: a newer schema is refused; the URL's password is never shown", async () => {
    const url = await cluster.createDatabase();
    const next = postgresMigrations.length + 1;
    const v2 = [...postgresMigrations, { version: next, description: 'test', sql: 'ALTER TABLE allocations ADD COLUMN label text' }];
    const r = await openRegistry({ db: url, migrations: v2 });
    assert.equal(r.info.schemaVersion, next);
    await r.close();
    await assert.rejects(openRegistry({ db: url }), code('ERR_DB_SCHEMA'));
    const withPassword = url.replace('postgres@', 'postgres:s3cret@');
    const r2 = await openRegistry({ db: withPassword, migrations: v2 });
    assert.ok(!r2.info.location.includes('s3cret'));
    await r2.close();
  });

  test('postgres: an unreachable server or a missing database is ERR_DB_UNREACHABLE', async () => {
    await assert.rejects(openRegistry({ db: 'postgres://postgres@127.0.0.1:1/nowhere' }), code('ERR_DB_UNREACHABLE'));
    await assert.rejects(openRegistry({ db: cluster.url('fsidt5_does_not_exist') }), code('ERR_DB_UNREACHABLE'));
  });

  test('postgres: 32 clients allocating at once from a tight pool get disjoint ranges, none lost', async () => {
    const url = await cluster.createDatabase();
    const pool = poolOf([{ start: 0x10000000, end: 0x10000000 + 200 * SLOT }], 'tight');
    const clients: Registry[] = await Promise.all(Array.from({ length: 32 }, () => openRegistry({ db: url })));
    try {
      const results = await Promise.all(
        clients.map(async (r, ci) => {
          const mine: Allocation[] = [];
          for (let i = 0; i < 6; i++) {
            mine.push(
              (await r.allocate({ name: `c${ci}-${i}`, uidPool: pool }, { exclusions: NO_HOST, random: seededRandom(ci * 100 + i) }))
                .allocation,
            );
          }
          return mine;
        }),
      );
      const all = results.flat();
      assert.equal(all.length, 192);
      const stored = await clients[0].list();
      assert.equal(stored.length, 192, 'every allocation a client got is in the registry');
      const byName = new Map(stored.map((a) => [a.name, a]));
      for (const a of all) assert.deepEqual(byName.get(a.name)?.uid, a.uid);
      const starts = stored.map((a) => a.uid.start).sort((x, y) => x - y);
      for (let i = 1; i < starts.length; i++) assert.ok(starts[i] - starts[i - 1] >= SLOT, 'disjoint');
      // The same name requested by every client at once: one allocation, returned to all.
      const same = await Promise.all(clients.map((r) => r.allocate({ name: 'shared-name', uidPool: pool }, { exclusions: NO_HOST })));
      assert.equal(same.filter((s) => s.created).length, 1);
      assert.equal(new Set(same.map((s) => s.allocation.uid.start)).size, 1);
      // The remaining 7 slots go to 7 of 16 racers; the other 9 get ERR_POOL_EXHAUSTED.
      const race = await Promise.allSettled(
        clients.slice(0, 16).map((r, i) => r.allocate({ name: `last-${i}`, uidPool: pool }, { exclusions: NO_HOST })),
      );
      assert.equal(race.filter((x) => x.status === 'fulfilled').length, 7);
      for (const x of race) if (x.status === 'rejected') assert.ok(code('ERR_POOL_EXHAUSTED')(x.reason), String(x.reason));
    } finally {
      await Promise.all(clients.map((r) => r.close()));
    }
  });

  test('postgres: the CLI contract holds with --db URL and with FSIDMAP_DB', async () => {
    const url = await cluster.createDatabase();
    const main = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
    const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
      spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', env: { ...process.env, FSIDMAP_DB: '', ...env } });
    const a = run(['alloc', 'pg-web', '--db', url, '--json']);
    assert.equal(a.status, 0, a.stderr);
    const got = JSON.parse(a.stdout);
    assert.deepEqual(Object.keys(got), ['name', 'kind', 'uid', 'gid', 'fs']);
    const again = run(['alloc', 'pg-web', '--json'], { FSIDMAP_DB: url });
    assert.deepEqual(JSON.parse(again.stdout), got);
    const who = JSON.parse(run(['who', String(got.uid.start + 1), '--db', url, '--json']).stdout);
    assert.deepEqual(
      who.holders
        .filter((h: { source: string }) => h.source === 'allocation')
        .map((h: { allocation: { name: string } }) => h.allocation.name),
      ['pg-web', 'pg-web'],
    );
    const img = run(['alloc', 'pg-img', '--kind', 'image', '--db', url]);
    assert.equal(img.status, 0, img.stderr);
    assert.equal(run(['alloc', 'pg-c', '--fs', 'pg-img', '--db', url]).status, 0);
    const refused = run(['release', 'pg-img', '--db', url, '--json']);
    assert.equal(refused.status, 1);
    assert.equal(JSON.parse(refused.stderr).error.code, 'ERR_RANGE_REFERENCED');
    assert.equal(JSON.parse(run(['list', '--db', url, '--json']).stdout).length, 3);
  });
}
