// A SQLite registry root writes, read by an ordinary user (nobody) who may
// read the file but not write its directory: through a private copy while
// no process has it open (no -shm to read), live through the WAL index
// while one does; every commit seen either way.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { hostExclusions } from '../../src/alloc/index.js';
import { openRegistry } from '../../src/registry/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const READ_STORE = pathToFileURL(join(here, '..', '..', 'src', 'registry', 'sqlite-read.js')).href;
const REGISTRY = pathToFileURL(join(here, '..', '..', 'src', 'registry', 'registry.js')).href;
const skip = process.getuid?.() === 0 ? undefined : "needs root: the registry is root's and the reader is nobody";
const NO_HOST = hostExclusions({ subuid: [], subgid: [], users: [], groups: [] });

// The reader: one line of JSON per line it is sent (what it sees now), then an attempted write.
const READER = `
import { createInterface } from 'node:readline';
const { SqliteReadStore } = await import(${JSON.stringify(READ_STORE)});
const { StoreRegistry } = await import(${JSON.stringify(REGISTRY)});
const store = new SqliteReadStore(process.argv[1]);
const registry = new StoreRegistry(store);
const report = async () => {
  const stamp = await registry.changeStamp();
  console.log(JSON.stringify({ stamp, mode: store.mode, names: (await registry.list()).map((a) => a.name) }));
};
await report();
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'write') {
    try { await registry.allocate({ name: 'by-nobody' }, { exclusions: {} }); console.log(JSON.stringify({ wrote: true })); }
    catch (e) { console.log(JSON.stringify({ code: e.code })); }
  } else await report();
}
await registry.close();
`;

const dir = mkdtempSync(join(tmpdir(), 'fsidt5-rodb-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('read-only SQLite as nobody: a copy while no one has it open, live through the WAL while someone does', { skip }, async () => {
  chmodSync(dir, 0o755);
  const path = join(dir, 'registry.db');
  const w0 = await openRegistry({ db: path });
  await w0.allocate({ name: 'a' }, { exclusions: NO_HOST });
  await w0.close();
  assert.ok(!existsSync(`${path}-wal`) && !existsSync(`${path}-shm`), 'closed by its last user: no -wal, no -shm');

  const child = spawn(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '--input-type=module', '-e', READER, path],
    { cwd: '/', stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (command?: string): Promise<{ mode: string; stamp: string; names: string[]; code?: string }> => {
    if (command) child.stdin.write(`${command}\n`);
    const r = await lines.next();
    assert.ok(!r.done, `the reader ended: ${err}`);
    return JSON.parse(r.value);
  };
  try {
    const first = await next();
    assert.equal(first.mode, 'copy');
    assert.deepEqual(first.names, ['a']);
    assert.equal((await next('again')).stamp, first.stamp, 'nothing changed: the same stamp');

    const w1 = await openRegistry({ db: path });
    await w1.allocate({ name: 'b' }, { exclusions: NO_HOST });
    await w1.close();
    const second = await next('again');
    assert.deepEqual([second.mode, second.names.sort()], ['copy', ['a', 'b']]);
    assert.notEqual(second.stamp, first.stamp);

    const held = await openRegistry({ db: path });
    try {
      await held.allocate({ name: 'c' }, { exclusions: NO_HOST });
      const third = await next('again');
      assert.deepEqual([third.mode, third.names.sort()], ['live', ['a', 'b', 'c']], 'a -wal appeared: read live');
      await held.allocate({ name: 'd' }, { exclusions: NO_HOST });
      const fourth = await next('again');
      assert.deepEqual([fourth.mode, fourth.names.sort()], ['live', ['a', 'b', 'c', 'd']]);
      assert.notEqual(fourth.stamp, third.stamp);
      assert.equal((await next('write')).code, 'ERR_DB_READ_ONLY');
    } finally {
      await held.close();
    }
    const check = await openRegistry({ db: path, readOnly: true });
    assert.deepEqual((await check.list()).map((a) => a.name).sort(), ['a', 'b', 'c', 'd'], 'nobody wrote nothing');
    await check.close();
  } finally {
    child.stdin.end();
    await new Promise((r) => child.once('exit', r));
  }
});
