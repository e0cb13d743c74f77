// The CLI contract of alloc/release/list/show/who/gc, run as users run it:
// the built binary, a registry file, fixture /etc files under --root.
import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'fsidt5-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshDb = (): string => join(dir, `r${++n}.db`);

function cli(args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  const clean = { ...process.env };
  delete clean.FSIDMAP_DB;
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...clean, ...env } });
}

function ok(args: string[], env?: NodeJS.ProcessEnv): string {
  const r = cli(args, env);
  assert.equal(r.status, 0, `fsidmap ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

function json(args: string[], env?: NodeJS.ProcessEnv): any {
  return JSON.parse(ok([...args, '--json'], env));
}

/** Runs a command expected to fail; returns {status, code, context} from the --json error on stderr. */
function fails(args: string[]): { status: number | null; code: string; context: Record<string, unknown> } {
  const r = cli([...args, '--json']);
  assert.notEqual(r.status, 0, `expected fsidmap ${args.join(' ')} to fail`);
  const err = JSON.parse(r.stderr.trim().split('\n').pop()!).error;
  return { status: r.status, code: err.code, context: err.context };
}

/** A fake root with its own passwd, group, subuid and subgid. */
function fixtureRoot(): string {
  const root = join(dir, `root${++n}`);
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(
    join(root, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nldap:x:268500999:100::/:/bin/false\nnobody:x:65534:65534::/:/bin/false\n',
  );
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nalice:x:1000:\nbig:x:268566530:\nnogroup:x:65534:\n');
  writeFileSync(join(root, 'etc', 'subuid'), 'alice:268435456:196608\nbob:269484032:65536\n# comment\nbroken line\n');
  writeFileSync(join(root, 'etc', 'subgid'), 'alice:268435456:196608\nbob:269484032:65536\n');
  return root;
}

test('cli alloc --json prints exactly {name, kind, uid, gid, fs}, and again the same for the same name', () => {
  const db = freshDb();
  const first = json(['alloc', 'web-1', '--db', db]);
  assert.deepEqual(Object.keys(first), ['name', 'kind', 'uid', 'gid', 'fs']);
  assert.deepEqual(Object.keys(first.uid), ['start', 'count']);
  assert.equal(first.name, 'web-1');
  assert.equal(first.kind, 'container');
  assert.equal(first.fs, null);
  assert.equal(first.uid.count, 65536);
  assert.equal(first.uid.start % 65536, 0);
  assert.deepEqual(first.gid, first.uid);
  assert.deepEqual(json(['alloc', 'web-1', '--db', db]), first);
  assert.equal(json(['list', '--db', db]).length, 1);
});

test(
  'cli alloc prints uid_map and gid_map lines the kernel accepts (written to a real user namespace)',
  { skip: process.getuid?.() !== 0 ? "needs root to write another namespace's maps" : false },
  async () => {
    const db = freshDb();
    const out = ok(['alloc', 'ns-test', '--size', '131072', '--db', db]);
    const lines = out.trim().split('\n');
    assert.equal(lines.length, 2);
    const [uidLine, gidLine] = lines.map((l) => l.split(' '));
    assert.equal(uidLine[0], 'uid_map');
    assert.equal(gidLine[0], 'gid_map');
    const child = spawn('unshare', ['--user', 'sleep', '30'], { stdio: 'ignore' });
    try {
      const own = readlinkSync('/proc/self/ns/user');
      for (let i = 0; i < 200 && readlinkSync(`/proc/${child.pid}/ns/user`) === own; i++) await new Promise((r) => setTimeout(r, 10));
      writeFileSync(`/proc/${child.pid}/uid_map`, uidLine.slice(1).join(' ') + '\n');
      writeFileSync(`/proc/${child.pid}/gid_map`, gidLine.slice(1).join(' ') + '\n');
      const installed = readFileSync(`/proc/${child.pid}/uid_map`, 'utf8').trim().split(/\s+/).map(Number);
      assert.deepEqual(installed, uidLine.slice(1).map(Number));
      assert.equal(installed[2], 131072);
    } finally {
      child.kill('SIGKILL');
    }
  },
);

test('cli alloc --fs: the container records its image and prints the fsid maps; the image cannot be released while used', () => {
  const db = freshDb();
  const img = json(['alloc', 'debian', '--kind', 'image', '--db', db]);
  const c = json(['alloc', 'c1', '--fs', 'debian', '--db', db]);
  assert.equal(c.fs, 'debian');
  const text = ok(['alloc', 'c1', '--db', db]).trim().split('\n');
  assert.deepEqual(text, [
    `uid_map 0 ${c.uid.start} 65536`,
    `gid_map 0 ${c.gid.start} 65536`,
    `fsuid_map 0 ${img.uid.start} 65536`,
    `fsgid_map 0 ${img.gid.start} 65536`,
  ]);
  const refused = fails(['release', 'debian', '--db', db]);
  assert.deepEqual([refused.status, refused.code, refused.context.referencedBy], [1, 'ERR_RANGE_REFERENCED', ['c1']]);
  const shown = json(['show', 'debian', '--db', db]);
  assert.deepEqual(shown.usedBy, ['c1']);
  assert.equal(shown.owner, 'shared');
  assert.equal(json(['release', 'c1', '--db', db]).name, 'c1');
  assert.equal(json(['release', 'debian', '--db', db]).name, 'debian');
  assert.deepEqual(json(['list', '--db', db]), []);
});

test('cli errors: pool exhausted with free counts, name taken, not allocated, database unreachable', () => {
  const db = freshDb();
  ok(['alloc', 'a', '--pool', '268435456:131072', '--db', db]);
  ok(['alloc', 'b', '--pool', '268435456:131072', '--db', db]);
  const full = fails(['alloc', 'c', '--pool', '268435456:131072', '--db', db]);
  assert.deepEqual([full.status, full.code, full.context.freeIds, full.context.largestFreeRun], [1, 'ERR_POOL_EXHAUSTED', 0, 0]);
  const taken = fails(['alloc', 'a', '--kind', 'volume', '--db', db]);
  assert.deepEqual([taken.status, taken.code], [1, 'ERR_NAME_TAKEN']);
  assert.equal(fails(['release', 'nope', '--db', db]).code, 'ERR_NO_SUCH_ALLOCATION');
  assert.equal(fails(['show', 'nope', '--db', db]).code, 'ERR_NO_SUCH_ALLOCATION');
  const unreachable = fails(['alloc', 'x', '--db', join(dir, 'missing-dir', 'r.db')]);
  assert.deepEqual([unreachable.status, unreachable.code], [1, 'ERR_DB_UNREACHABLE']);
  const pgDown = fails(['list', '--db', 'postgres://nobody@127.0.0.1:1/none']);
  assert.deepEqual([pgDown.status, pgDown.code], [1, 'ERR_DB_UNREACHABLE']);
});

test('cli usage errors exit 2 before anything is written', () => {
  const db = freshDb();
  const cases: string[][] = [
    ['alloc', 'x', '--size', '1000'],
    ['alloc', 'x', '--size', 'big'],
    ['alloc', 'x', '--kind', 'vm'],
    ['alloc'],
    ['alloc', 'a', 'b'],
    ['alloc', 'x', '--pool', '5'],
    ['alloc', 'x', '--bogus'],
    ['alloc', 'bad name'],
    ['alloc', 'x', '--fs', 'img', '--kind', 'image'],
    ['who', 'minus-one'],
    ['who', '4294967296'],
    ['list', 'extra'],
    ['alloc', 'x', '--parent', 'p', '--pool', '268435456:65536'],
  ];
  for (const args of cases) {
    const r = cli([...args, '--db', db]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
  }
  assert.deepEqual(json(['list', '--db', db]), [], 'nothing was allocated');
  assert.equal(cli(['alloc', '--help']).status, 0);
});

test('cli FSIDMAP_DB names the registry when --db is absent', () => {
  const db = freshDb();
  ok(['alloc', 'env-one'], { FSIDMAP_DB: db });
  assert.deepEqual(
    json(['list', '--db', db]).map((a: { name: string }) => a.name),
    ['env-one'],
  );
});

test('cli who: allocation with offset, subuid owner, user, group, reserved, nobody, and conflicts', () => {
  const db = freshDb();
  const root = fixtureRoot();
  // Allocated inside alice's subuid range on purpose (no --respect-subids): who must flag it.
  const a = json(['alloc', 'inside-alice', '--pool', '268435456:196608', '--db', db, '--root', root]);
  const w = json(['who', String(a.uid.start + 42), '--db', db, '--root', root]);
  assert.deepEqual(Object.keys(w), ['id', 'nobody', 'conflicts', 'inContainerRange', 'holders']);
  assert.equal(w.nobody, false);
  const alloc = w.holders.find((h: any) => h.source === 'allocation' && h.side === 'uid');
  assert.deepEqual([alloc.allocation.name, alloc.offset], ['inside-alice', 42]);
  const sub = w.holders.find((h: any) => h.source === 'subuid');
  assert.deepEqual([sub.owner, sub.offset], ['alice', a.uid.start + 42 - 268435456]);
  assert.deepEqual(w.conflicts, ['uid', 'gid']);
  const ldap = json(['who', '268500999', '--db', db, '--root', root]);
  assert.ok(ldap.holders.some((h: any) => h.source === 'user' && h.name === 'ldap'));
  const big = json(['who', '268566530', '--db', db, '--root', root]);
  assert.ok(big.holders.some((h: any) => h.source === 'group' && h.name === 'big'));
  const nobody = json(['who', '65534', '--db', db, '--root', root]);
  assert.deepEqual(
    nobody.holders.map((h: any) => h.source),
    ['user', 'group', 'reserved'],
  );
  const foreign = json(['who', String(0x7ffe0005), '--db', db, '--root', root]);
  assert.deepEqual([foreign.nobody, foreign.holders[0].source, foreign.holders[0].start], [true, 'reserved', 0x7ffe0000]);
  const free = json(['who', '900000000', '--db', db, '--root', root]);
  assert.deepEqual([free.nobody, free.inContainerRange, free.holders], [true, true, []]);
  assert.match(ok(['who', '900000000', '--db', db, '--root', root]), /nobody/);
});

test('cli --respect-subids keeps clear of every subuid range and of real user and group ids', () => {
  const db = freshDb();
  const root = fixtureRoot();
  // Pool: 32 slots from 0x10000000; alice has slots 0-2, bob slot 16, user ldap sits in slot 1, group big in slot 2.
  for (let i = 0; i < 28; i++) ok(['alloc', `r${i}`, '--pool', '268435456:2097152', '--respect-subids', '--root', root, '--db', db]);
  const slots = json(['list', '--db', db])
    .map((a: any) => (a.uid.start - 268435456) / 65536)
    .sort((x: number, y: number) => x - y);
  assert.deepEqual(
    slots,
    [...Array(32).keys()].filter((s) => ![0, 1, 2, 16].includes(s)),
  );
  assert.equal(
    fails(['alloc', 'one-more', '--pool', '268435456:2097152', '--respect-subids', '--root', root, '--db', db]).code,
    'ERR_POOL_EXHAUSTED',
  );
});

test("cli --pool-user takes the pool from that user's subuid/subgid lines", () => {
  const db = freshDb();
  const root = fixtureRoot();
  // alice's three slots: slot 1 holds user ldap's uid and slot 2 group big's gid, so only slot 0 is usable.
  const a = json(['alloc', 'a0', '--pool-user', 'alice', '--root', root, '--db', db]);
  assert.equal(a.uid.start, 268435456);
  assert.equal(fails(['alloc', 'a1', '--pool-user', 'alice', '--root', root, '--db', db]).code, 'ERR_POOL_EXHAUSTED');
  // bob's one slot, clear of everything.
  assert.equal(json(['alloc', 'b0', '--pool-user', 'bob', '--root', root, '--db', db]).uid.start, 269484032);
  assert.equal(fails(['alloc', 'x', '--pool-user', 'nobody', '--root', root, '--db', db]).code, 'ERR_POOL_INVALID');
  assert.equal(fails(['alloc', 'x', '--pool-user', 'ghost', '--root', root, '--db', db]).code, 'ERR_POOL_INVALID');
});

/** A fake root as useradd leaves it: each user's 65536 subordinate ids right after the previous user's. */
function useraddRoot(): string {
  const root = join(dir, `root${++n}`);
  mkdirSync(join(root, 'etc'), { recursive: true });
  const users = ['alice', 'bob', 'carol'];
  writeFileSync(join(root, 'etc', 'passwd'), users.map((u, i) => `${u}:x:${1000 + i}:${1000 + i}::/home/${u}:/bin/sh\n`).join(''));
  writeFileSync(join(root, 'etc', 'group'), users.map((u, i) => `${u}:x:${1000 + i}:\n`).join(''));
  const subids = 'alice:100000:65536\nbob:165536:65536\ncarol:1500000:131072\n';
  writeFileSync(join(root, 'etc', 'subuid'), subids);
  writeFileSync(join(root, 'etc', 'subgid'), subids);
  return root;
}

test('cli --pool-user works with useradd ranges as they are: 100000:65536, 165536:65536, 1500000:131072', () => {
  const db = freshDb();
  const root = useraddRoot();
  const alloc = (name: string, user: string): any => json(['alloc', name, '--pool-user', user, '--root', root, '--db', db]);
  const a = alloc('a0', 'alice');
  assert.deepEqual(
    [a.uid, a.gid],
    [
      { start: 100000, count: 65536 },
      { start: 100000, count: 65536 },
    ],
  );
  assert.deepEqual(alloc('b0', 'bob').uid, { start: 165536, count: 65536 });
  assert.deepEqual([alloc('c0', 'carol').uid.start, alloc('c1', 'carol').uid.start].sort(), [1500000, 1565536]);
  const r = cli(['alloc', 'c2', '--pool-user', 'carol', '--root', root, '--db', db, '--json']);
  assert.notEqual(r.status, 0);
  const err = JSON.parse(r.stderr.trim().split('\n').pop()!).error;
  assert.equal(err.code, 'ERR_POOL_EXHAUSTED');
  assert.match(err.message, /^\/etc\/subuid ranges of carol has no free uid\+gid range of 65536 ids/);
  assert.match(err.hint, /give carol more subordinate ids \(usermod --add-subuids FIRST-LAST --add-subgids FIRST-LAST\)/);
  // The same name again is the same range: what a re-created container relies on.
  assert.deepEqual(alloc('a0', 'alice').uid, { start: 100000, count: 65536 });
});

test('cli gc frees an allocation once its holder process has exited, not before', async () => {
  const db = freshDb();
  const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    ok(['alloc', 'held', '--holder', String(holder.pid), '--db', db]);
    ok(['alloc', 'unheld', '--db', db]);
    const shown = json(['show', 'held', '--db', db]);
    assert.equal(shown.holder.pid, holder.pid);
    assert.deepEqual(json(['gc', '--db', db]).released, []);
  } finally {
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
  }
  const dry = json(['gc', '--dry-run', '--db', db]);
  assert.deepEqual(
    dry.released.map((a: any) => a.name),
    ['held'],
  );
  assert.equal(json(['list', '--db', db]).length, 2);
  assert.deepEqual(
    json(['gc', '--db', db]).released.map((a: any) => a.name),
    ['held'],
  );
  assert.deepEqual(
    json(['list', '--db', db]).map((a: any) => a.name),
    ['unheld'],
  );
  assert.equal(fails(['alloc', 'x', '--holder', '999999999', '--db', db]).code, 'ERR_NO_SUCH_PROCESS');
});

test('cli --holder: a live holder keeps the name; once it is gone a new holder takes the same range over', async () => {
  const db = freshDb();
  const first = spawn('sleep', ['60'], { stdio: 'ignore' });
  const second = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const a = json(['alloc', 'svc', '--holder', String(first.pid), '--db', db]);
    assert.equal(fails(['alloc', 'svc', '--holder', String(second.pid), '--db', db]).code, 'ERR_ALLOC_HELD');
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    assert.deepEqual(json(['alloc', 'svc', '--holder', String(second.pid), '--db', db]), a);
    assert.equal(json(['show', 'svc', '--db', db]).holder.pid, second.pid);
  } finally {
    first.kill('SIGKILL');
    second.kill('SIGKILL');
  }
});

test('cli nested: --parent carves a child, list shows it, who names both', () => {
  const db = freshDb();
  const p = json(['alloc', 'node', '--size', '262144', '--db', db]);
  const c = json(['alloc', 'node/pod', '--parent', 'node', '--db', db]);
  assert.ok(c.uid.start >= p.uid.start && c.uid.start + c.uid.count <= p.uid.start + p.uid.count);
  const w = json(['who', String(c.uid.start), '--db', db]);
  assert.deepEqual(
    w.holders.filter((h: any) => h.side === 'uid').map((h: any) => h.allocation.name),
    ['node', 'node/pod'],
  );
  assert.deepEqual(w.conflicts, []);
  assert.equal(fails(['release', 'node', '--db', db]).code, 'ERR_RANGE_REFERENCED');
  const table = ok(['list', '--db', db]).trim().split('\n');
  assert.equal(table.length, 3);
  assert.match(table[0], /^NAME\s+KIND\s+UID\s+GID\s+FS\s+OWNER\s+PARENT\s+HOLDER$/);
});
