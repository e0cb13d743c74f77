import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { registryContract } from '../../test/support/registry-contract.js';
import { hostExclusions, seededRandom } from '../alloc/index.js';
import { isFsidmapError } from '../errors.js';
import { defaultRegistryPath, openRegistry, sqliteMigrations } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'fsidt5-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const paths = new Map<string, string>();

registryContract('sqlite', {
  async open(key?: string, options: { readOnly?: boolean } = {}) {
    let path = key ? paths.get(key) : undefined;
    if (!path) {
      path = join(dir, `r${++n}.db`);
      if (key) paths.set(key, path);
    }
    return openRegistry({ db: path, ...options });
  },
});

const NO_HOST = hostExclusions({ subuid: [], subgid: [], users: [], groups: [] });
const code = (c: string) => (e: unknown) => isFsidmapError(e) && e.code === c;

test('sqlite: a trigger refuses an overlapping row even when written by hand', async () => {
  const path = join(dir, 'trigger.db');
  const r = await openRegistry({ db: path });
  const a = (await r.allocate({ name: 'a' }, { exclusions: NO_HOST, random: seededRandom(1) })).allocation;
  await r.close();
  const db = new Database(path);
  const insert = (start: number, scope: number) =>
    db
      .prepare(
        `INSERT INTO allocations (realm_id, name, kind, scope_key, uid_start, uid_count, gid_start, gid_count, created_at)
    VALUES (1, ?, 'container', ?, ?, 65536, ?, 65536, 'now')`,
      )
      .run(`hand-${start}-${scope}`, scope, start, start);
  assert.throws(() => insert(a.uid.start, -1), /FSIDMAP_OVERLAP/);
  insert(a.uid.start - 65536 * 3, -1);
  assert.throws(
    () => db.prepare('UPDATE allocations SET uid_start = uid_start + 65536 WHERE name = ?').run(`hand-${a.uid.start - 65536 * 3}--1`),
    /FSIDMAP_IMMUTABLE/,
  );
  // Different scope (a child of allocation 1 may overlap its parent).
  db.pragma('foreign_keys = ON');
  assert.doesNotThrow(() =>
    db
      .prepare(
        `INSERT INTO allocations (realm_id, name, kind, scope_key, parent_id, uid_start, uid_count, gid_start, gid_count, created_at)
    VALUES (1, 'child', 'container', 1, 1, ?, 65536, ?, 65536, 'now')`,
      )
      .run(a.uid.start, a.uid.start),
  );
  assert.throws(() => db.prepare('DELETE FROM allocations WHERE id = 1').run(), /FOREIGN KEY/);
  db.close();
});

test('sqlite: migrations apply in order once, keep data, and a newer schema is refused', async () => {
  const path = join(dir, 'migrate.db');
  // A registry of schema 1 (before draining), with a row written as fsidmap of then wrote it.
  const raw = new Database(path);
  raw.exec(sqliteMigrations[0].sql);
  raw.exec(`CREATE TABLE fsidmap_schema (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL);
    INSERT INTO fsidmap_schema VALUES (1, 'v1', '2026-01-01T00:00:00.000Z');
    INSERT INTO realms (name) VALUES ('default');
    INSERT INTO allocations (realm_id, name, kind, scope_key, uid_start, uid_count, gid_start, gid_count, created_at)
    VALUES (1, 'keep-me', 'container', -1, 1048576, 65536, 1048576, 65536, '2026-01-01T00:00:00.000Z');`);
  raw.close();
  const latest = sqliteMigrations.length;
  const v3 = [
    ...sqliteMigrations,
    {
      version: latest + 1,
      description: 'test: labels',
      sql: 'ALTER TABLE allocations ADD COLUMN label TEXT; CREATE INDEX allocations_label ON allocations (label);',
    },
  ];
  const r2 = await openRegistry({ db: path, migrations: v3 });
  assert.equal(r2.info.schemaVersion, latest + 1);
  const kept = await r2.get('keep-me');
  assert.ok(kept);
  assert.equal(kept.draining, undefined, 'rows from before the draining migration are live');
  assert.deepEqual(await r2.list({ draining: true }), []);
  await r2.close();
  const r2again = await openRegistry({ db: path, migrations: v3 });
  await r2again.close();
  const db = new Database(path, { readonly: true });
  assert.deepEqual(
    db.prepare('SELECT version FROM fsidmap_schema ORDER BY version').pluck().all(),
    v3.map((m) => m.version),
  );
  db.close();
  await assert.rejects(openRegistry({ db: path, migrations: sqliteMigrations }), code('ERR_DB_SCHEMA'));
});

test('sqlite: unusable locations are clear errors, not crashes', async () => {
  await assert.rejects(openRegistry({ db: join(dir, 'no', 'such', 'dir', 'r.db') }), code('ERR_DB_UNREACHABLE'));
  const junk = join(dir, 'junk.db');
  writeFileSync(junk, 'this is not a database, just text that is long enough to have a header page of junk '.repeat(100));
  await assert.rejects(openRegistry({ db: junk }), code('ERR_DB_INVALID'));
  await assert.rejects(openRegistry({ db: '' }), code('ERR_USAGE'));
});

test('sqlite: default location is /var/lib/fsidmap for root and XDG_STATE_HOME otherwise', () => {
  assert.equal(defaultRegistryPath({}, 0), '/var/lib/fsidmap/registry.db');
  assert.equal(defaultRegistryPath({ XDG_STATE_HOME: '/x/state', HOME: '/home/u' }, 1000), '/x/state/fsidmap/registry.db');
  assert.equal(defaultRegistryPath({ HOME: '/home/u' }, 1000), '/home/u/.local/state/fsidmap/registry.db');
  // A relative XDG_STATE_HOME is invalid per the XDG spec and ignored.
  assert.equal(defaultRegistryPath({ XDG_STATE_HOME: 'rel', HOME: '/home/u' }, 1000), '/home/u/.local/state/fsidmap/registry.db');
});

test('sqlite: FSIDMAP_DB selects the registry when --db is absent, and the default directory is created', async () => {
  const path = join(dir, 'from-env.db');
  const r = await openRegistry({ env: { FSIDMAP_DB: path } });
  assert.equal(r.info.location, path);
  await r.close();
  const state = join(dir, 'xdg');
  const d = await openRegistry({ env: { XDG_STATE_HOME: state }, euid: 1000 });
  assert.equal(d.info.location, join(state, 'fsidmap', 'registry.db'));
  await d.close();
});
