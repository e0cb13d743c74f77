// The parts of the multi-host deployment that need no network: the root-only
// URL file, the timeout's parsing, gc --dead-host's rule (on SQLite; the
// PostgreSQL cluster is test/integration/registry-multihost.test.ts).
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type Holder, hostExclusions } from '../alloc/index.js';
import { isFsidmapError } from '../errors.js';
import { collectGarbage, hostRoleGrants, openRegistry, readUrlFile } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'fsidt5-multihost-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const code = (c: string) => (e: unknown) => isFsidmapError(e) && e.code === c;
const euid = process.geteuid?.() ?? 0;

test('FSIDMAP_DB_FILE: one URL in a file only its owner can read; anything looser is refused before connecting', async () => {
  const good = join(dir, 'good.url');
  writeFileSync(good, 'postgres://h:pw@db.example/reg?sslmode=verify-full\n', { mode: 0o600 });
  assert.equal(readUrlFile(good, euid), 'postgres://h:pw@db.example/reg?sslmode=verify-full');
  const loose = join(dir, 'loose.url');
  writeFileSync(loose, 'postgres://h:pw@db.example/reg\n');
  chmodSync(loose, 0o640);
  assert.throws(
    () => readUrlFile(loose, euid),
    (e: unknown) => code('ERR_DB_URL_FILE')(e) && /mode 640/.test((e as Error).message),
  );
  const link = join(dir, 'link.url');
  symlinkSync(good, link);
  assert.throws(() => readUrlFile(link, euid), code('ERR_DB_URL_FILE'));
  assert.throws(() => readUrlFile(join(dir, 'missing.url'), euid), code('ERR_DB_URL_FILE'));
  const two = join(dir, 'two.url');
  writeFileSync(two, 'postgres://a@x/y\npostgres://b@x/y\n', { mode: 0o600 });
  assert.throws(() => readUrlFile(two, euid), code('ERR_DB_URL_FILE'));
  if (euid === 0) {
    const theirs = join(dir, 'theirs.url');
    writeFileSync(theirs, 'postgres://a@x/y\n', { mode: 0o600 });
    chownSync(theirs, 65534, 65534);
    assert.throws(
      () => readUrlFile(theirs, 0),
      (e: unknown) => code('ERR_DB_URL_FILE')(e) && /owned by uid 65534/.test((e as Error).message),
    );
  }
  // openRegistry reads it when neither --db nor FSIDMAP_DB is given, and refuses a loose one first.
  await assert.rejects(openRegistry({ env: { FSIDMAP_DB_FILE: loose }, euid }), code('ERR_DB_URL_FILE'));
  const sqlite = join(dir, 'sqlite.url');
  writeFileSync(sqlite, join(dir, 'from-file.db') + '\n', { mode: 0o600 });
  const r = await openRegistry({ env: { FSIDMAP_DB_FILE: sqlite }, euid });
  assert.equal(r.info.location, join(dir, 'from-file.db'));
  await r.close();
});

test('FSIDMAP_DB_TIMEOUT must be a positive number of seconds', async () => {
  for (const bad of ['0', '-1', 'soon', '1s']) {
    await assert.rejects(
      openRegistry({ env: { FSIDMAP_DB: 'postgres://nobody@127.0.0.1:1/x', FSIDMAP_DB_TIMEOUT: bad } }),
      code('ERR_USAGE'),
      bad,
    );
  }
});

test('gc: holders elsewhere are left alone unless their machine is declared dead, and this machine cannot be', async () => {
  const r = await openRegistry({ db: join(dir, 'gc.db') });
  const exclusions = hostExclusions({ subuid: [], subgid: [], users: [], groups: [] });
  const holder = (machineId: string, host: string): Holder => ({ pid: 4242, startTime: 7, bootId: 'b', machineId, host });
  await r.allocate({ name: 'on-a', holder: holder('mid-a', 'a') }, { exclusions });
  await r.allocate({ name: 'on-b', holder: holder('mid-b', 'b') }, { exclusions });
  await r.allocate({ name: 'on-c', holder: holder('mid-c', 'c') }, { exclusions });
  const probe = { local: { machineId: 'mid-a', bootId: 'b', host: 'a' }, startTimeOf: (pid: number) => (pid === 4242 ? 7 : undefined) };
  const plain = await collectGarbage(r, probe);
  assert.deepEqual(plain.released, []);
  assert.equal(plain.elsewhere, 2);
  await assert.rejects(collectGarbage(r, probe, { deadHost: 'a' }), code('ERR_USAGE'));
  await assert.rejects(collectGarbage(r, probe, { deadHost: 'mid-a' }), code('ERR_USAGE'));
  const byName = await collectGarbage(r, probe, { deadHost: 'b' });
  assert.deepEqual(
    byName.released.map((a) => a.name),
    ['on-b'],
  );
  const byId = await collectGarbage(r, probe, { deadHost: 'mid-c', dryRun: true });
  assert.deepEqual(
    byId.released.map((a) => a.name),
    ['on-c'],
  );
  assert.deepEqual((await r.list()).map((a) => a.name).sort(), ['on-a', 'on-c'], 'a dry run releases nothing; the live local one stays');
  await r.close();
});

test('hostRoleGrants: only plain role names', () => {
  assert.match(hostRoleGrants('fsidmap_host'), /GRANT SELECT, INSERT, DELETE ON allocations TO fsidmap_host;/);
  assert.doesNotMatch(hostRoleGrants('fsidmap_host'), /uid_start|TRUNCATE|CREATE/);
  assert.throws(() => hostRoleGrants('x; DROP TABLE allocations'));
});
