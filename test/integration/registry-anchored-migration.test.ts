// Schema 3 lets a range start anywhere (pools anchored at a subordinate range's start). A registry
// written by schema 2 is migrated with its rows, references and draining marks intact, on both stores.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hostExclusions, poolOf, seededRandom } from '../../src/alloc/index.js';
import { isFsidmapError } from '../../src/errors.js';
import { type Registry, openRegistry, postgresMigrations, sqliteMigrations } from '../../src/registry/index.js';
import { type PgCluster, pgSkipReason, startCluster } from '../support/pg-cluster.js';

const NO_HOST = hostExclusions({ subuid: [], subgid: [], users: [], groups: [] });
const opts = (seed: number) => ({ exclusions: NO_HOST, random: seededRandom(seed) });
const useradd = poolOf([{ start: 100000, end: 100000 + 3 * 65536 }], 'subuid of alice', { anchored: true });

/** Writes a schema-2 registry with a parent, a child, an image used by a container and a draining row. */
async function fillV2(r: Registry): Promise<void> {
  await r.allocate({ name: 'img', kind: 'image' }, opts(1));
  await r.allocate({ name: 'web', fs: 'img' }, opts(2));
  await r.allocate({ name: 'node', size: 4 * 65536 }, opts(3));
  await r.allocate({ name: 'node/pod', parent: 'node' }, opts(4));
  await r.allocate({ name: 'gone' }, opts(5));
  await r.release('gone', { mapped: { machineId: 'm', bootId: 'b', mappedBy: () => 'pid 1' } });
}

async function checkMigrated(open: () => Promise<Registry>, before: unknown): Promise<void> {
  const r = await open();
  try {
    assert.equal(r.info.schemaVersion, 3);
    assert.deepEqual(await r.list(), before, 'every row, reference and draining mark kept');
    await assert.rejects(r.release('img'), (e: unknown) => isFsidmapError(e) && e.code === 'ERR_RANGE_REFERENCED');
    const a = await r.allocate({ name: 'a0', uidPool: useradd, gidPool: useradd }, opts(6));
    assert.equal((a.allocation.uid.start - 100000) % 65536, 0, 'on the pool grid');
    assert.notEqual(a.allocation.uid.start % 65536, 0, 'not on the aligned grid');
    const names = (await r.list()).map((x) => x.name);
    assert.ok(names.includes('a0'));
  } finally {
    await r.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'fsid-anchored-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('sqlite: a schema-2 registry migrates to 3 with its rows and triggers; unaligned starts are then accepted', async () => {
  const db = join(dir, 'v2.db');
  const old = await openRegistry({ db, migrations: sqliteMigrations.slice(0, 2) });
  assert.equal(old.info.schemaVersion, 2);
  await fillV2(old);
  await assert.rejects(
    old.allocate({ name: 'a0', uidPool: useradd, gidPool: useradd }, opts(6)),
    /check/i,
    'schema 2 refuses an unaligned start (its CHECK)',
  );
  const rows = await old.list();
  await old.close();
  await checkMigrated(() => openRegistry({ db }), rows);
  // The rebuilt table still refuses overlap in a scope: the same anchored pool is full after three.
  const r = await openRegistry({ db });
  try {
    await r.allocate({ name: 'a1', uidPool: useradd, gidPool: useradd }, opts(7));
    await r.allocate({ name: 'a2', uidPool: useradd, gidPool: useradd }, opts(8));
    await assert.rejects(
      r.allocate({ name: 'a3', uidPool: useradd, gidPool: useradd }, opts(9)),
      (e: unknown) => isFsidmapError(e) && e.code === 'ERR_POOL_EXHAUSTED',
    );
  } finally {
    await r.close();
  }
});

const skip = pgSkipReason();
if (skip) {
  test('postgres: schema 2 → 3', { skip }, () => {});
} else {
  let cluster: PgCluster;
  before(async () => {
    cluster = await startCluster();
  });
  after(() => cluster?.stop());

  test('postgres: a schema-2 registry migrates to 3 with its rows and constraints; unaligned starts are then accepted', async () => {
    const url = await cluster.createDatabase();
    const old = await openRegistry({ db: url, migrations: postgresMigrations.slice(0, 2) });
    await fillV2(old);
    await assert.rejects(
      old.allocate({ name: 'a0', uidPool: useradd, gidPool: useradd }, opts(6)),
      /check/i,
      'schema 2 refuses an unaligned start (its CHECK)',
    );
    const rows = await old.list();
    await old.close();
    await checkMigrated(() => openRegistry({ db: url }), rows);
  });
}
