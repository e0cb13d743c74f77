import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCompact } from '../idmap/index.js';
import { Accounts } from './accounts.js';
import { decideFsidMap, type FsidMapInput } from './fsid-policy.js';
import { decideNewIdmap } from './newidmap.js';
import { mapTextToArgs } from './map-args.js';
import { parseSubidDb } from './subid-db.js';

const accounts = Accounts.parse('alice:x:1000:1000::/:/bin/sh\nbob:x:1001:1001::/:/bin/sh\n', 'alice:x:1000:\nbob:x:1001:\nstaff:x:50:\n');
const SUB = 'alice:100000:30000\nalice:130000:35536\nbob:165536:65536\n';
const alice = accounts.getpwnam('alice')!;

function fsid(map: string, over: Partial<FsidMapInput> = {}) {
  return decideFsidMap({ kind: 'fsuid', args: mapTextToArgs(map), user: alice, accounts, subids: parseSubidDb(SUB), ...over });
}

test("fsid policy: fsid identity with the id map (the seed's first case)", () => {
  const d = fsid('0 100000 65536');
  assert.equal(d.allowed, true);
  assert.equal(formatCompact(d.installed!), '0 100000 65536\n');
});

test('fsid policy: fsid back along the owned range (an image stored at another offset inside it)', () => {
  assert.equal(fsid('0 130000 20000').allowed, true);
  assert.equal(fsid('0 100000 30000\n30000 130000 35536').allowed, true, 'two lines over adjacent entries');
});

test('fsid policy: the own uid may be fsid 0 of any number of namespaces', () => {
  for (let i = 0; i < 3; i++) assert.equal(fsid('0 1000 1').allowed, true);
  assert.equal(fsid('0 1000 1\n1 100000 65535').allowed, true);
});

test('fsid policy: ownership is per id, so the own uid may sit next to owned subordinate ids', () => {
  const subs = parseSubidDb('alice:1001:10\n');
  const other = Accounts.parse('alice:x:1000:1000::/:/bin/sh\n');
  assert.equal(decideFsidMap({ kind: 'fsuid', args: ['0', '1000', '11'], user: alice, accounts: other, subids: subs }).allowed, true);
  // newuidmap refuses the same line: its own-uid rule is count 1 only.
  assert.equal(
    decideNewIdmap({ tool: 'newuidmap', args: ['0', '1000', '11'], caller: { uid: 1000, gid: 1000 }, accounts: other, subids: subs })
      .allowed,
    false,
  );
});

test('fsid policy: a refusal names the id, the range it needed and who owns it instead', () => {
  const d = fsid('0 165000 1000');
  assert.equal(d.allowed, false);
  assert.equal(d.rule, 'not-owned');
  assert.deepEqual(d.refusal && { id: d.refusal.id, needed: d.refusal.needed, missing: d.refusal.missing }, {
    id: 165536,
    needed: [165000, 166000],
    missing: [165536, 166000],
  });
  assert.deepEqual(d.refusal!.holders[0], { kind: 'subordinate', owner: 'bob', line: 3, range: [165536, 231072] });
  assert.match(d.message!, /165536/);
  assert.match(d.message!, /bob/);
});

test("fsid policy: a real account's id, and an id nobody holds", () => {
  const user = fsid('0 1001 1');
  assert.deepEqual(user.refusal!.holders, [{ kind: 'user', name: 'bob', id: 1001 }]);
  const nobody = fsid('0 5000000 10');
  assert.deepEqual(nobody.refusal!.holders, []);
  assert.match(nobody.message!, /no one/);
});

test('fsid policy: the second mapping is checked too, and the first unowned id is reported', () => {
  const d = fsid('0 100000 10\n10 99990 20');
  assert.equal(d.refusal!.mapping, 2);
  assert.equal(d.refusal!.id, 99990);
  assert.deepEqual(d.refusal!.missing, [99990, 100000]);
});

test("fsid policy: the kernel's rules still apply (overlapping lines, count 0, junk)", () => {
  const overlap = fsid('0 100000 10\n5 100010 10');
  assert.equal(overlap.stage, 'kernel');
  assert.equal(overlap.kernel?.rule, 'upper-overlap');
  assert.equal(fsid('0 100000 0').rule, 'count-zero');
  assert.equal(fsid('0 100000').stage, 'arguments');
});

test('fsid policy: fsgid maps use the real gid and /etc/subgid', () => {
  const gsub = parseSubidDb('alice:200000:65536\n');
  const base = { kind: 'fsgid' as const, user: alice, accounts, subids: gsub };
  assert.equal(decideFsidMap({ ...base, args: ['0', '1000', '1'] }).allowed, true);
  assert.equal(decideFsidMap({ ...base, args: ['0', '50', '1'] }).allowed, false);
  assert.equal(decideFsidMap({ ...base, gid: 50, args: ['0', '50', '1'] }).allowed, true);
  assert.equal(decideFsidMap({ ...base, args: ['0', '200000', '65536'] }).allowed, true);
  assert.equal(decideFsidMap({ ...base, subids: null, args: ['0', '1000', '1'] }).allowed, true, 'no file: the own id still counts');
});
