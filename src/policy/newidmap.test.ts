import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCompact } from '../idmap/index.js';
import { Accounts } from './accounts.js';
import { decideNewIdmap, type NewIdmapInput } from './newidmap.js';
import { parseSubidDb } from './subid-db.js';

const accounts = Accounts.parse(
  'root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/:/bin/sh\nbob:x:1001:1001::/:/bin/sh\n',
  'root:x:0:\nalice:x:1000:\nbob:x:1001:\nstaff:x:50:alice\n',
);
const SUB = 'alice:100000:30000\nalice:130000:35536\nbob:165536:65536\n';
const alice = { uid: 1000, gid: 1000 };

function decide(over: Partial<NewIdmapInput> & { args: string[] }): ReturnType<typeof decideNewIdmap> {
  return decideNewIdmap({ tool: 'newuidmap', caller: alice, accounts, subids: parseSubidDb(SUB), ...over });
}

test('newuidmap: a range inside the subordinate entries (adjacent lines joined) is written as given', () => {
  const d = decide({ args: ['0', '100000', '65536'] });
  assert.equal(d.allowed, true);
  assert.equal(d.write, '0 100000 65536\n');
  assert.deepEqual(d.ranges[0].lines, [1, 2]);
  assert.equal(d.ranges[0].via, 'subordinate');
  assert.equal(formatCompact(d.installed!), '0 100000 65536\n');
  assert.equal(d.setgroups, null);
});

test('newuidmap: own uid with count 1 is allowed, anywhere inside; count 2 is not', () => {
  assert.equal(decide({ args: ['0', '1000', '1'] }).ranges[0].via, 'own-id');
  assert.equal(decide({ args: ['12345', '1000', '1'] }).allowed, true);
  const two = decide({ args: ['0', '1000', '2'] });
  assert.equal(two.allowed, false);
  assert.equal(two.rule, 'not-allowed');
  assert.equal(two.stderr, 'newuidmap: uid range [0-2) -> [1000-1002) not allowed');
});

test('newuidmap: ranges are verified in order and the first refusal is reported', () => {
  const d = decide({ args: ['0', '100000', '10', '10', '165536', '1', '11', '0', '1'] });
  assert.equal(d.stage, 'ranges');
  assert.equal(d.stderr, 'newuidmap: uid range [10-11) -> [165536-165537) not allowed');
  assert.match(d.message!, /165536/);
  assert.match(d.message!, /bob/, 'names who holds the id instead');
});

test('newuidmap: count 0 is refused by verify_range', () => {
  const d = decide({ args: ['0', '100000', '0'] });
  assert.equal(d.rule, 'count-zero');
  assert.equal(d.stderr, 'newuidmap: uid range [0-0) -> [100000-100000) not allowed');
});

test('newuidmap: the caller must have a passwd entry', () => {
  const d = decide({ caller: { uid: 4242, gid: 4242 }, args: ['0', '100000', '1'] });
  assert.equal(d.stage, 'caller');
  assert.equal(d.stderr, 'newuidmap: Cannot determine your user name.');
});

test('newuidmap: getlogin() name is used only when its uid is the real uid', () => {
  const d = decide({ caller: { uid: 1000, gid: 1000, loginName: 'bob' }, args: ['0', '100000', '1'] });
  assert.equal(d.user?.name, 'alice');
});

test('newuidmap: the target must be owned by the caller, and the real gid must be the passwd gid', () => {
  const cases: Array<[Partial<NewIdmapInput>, boolean]> = [
    [{ target: { uid: 1001, gid: 1000 } }, false],
    [{ target: { uid: 1000, gid: 50 } }, false],
    [{ caller: { uid: 1000, gid: 50 }, target: { uid: 1000, gid: 50 } }, false],
    [{ caller: { uid: 1000, gid: 50 }, target: { uid: 1000, gid: 50 }, grantAuxGroupSubids: true }, true],
    [{ caller: { uid: 1000, gid: 50 }, target: { uid: 1000, gid: 1000 }, grantAuxGroupSubids: true }, false],
  ];
  for (const [over, ok] of cases) {
    const d = decide({ ...over, args: ['0', '100000', '1'] });
    assert.equal(d.allowed, ok, JSON.stringify(over));
    if (!ok) assert.equal(d.stage, 'target');
  }
  assert.match(
    decide({ target: { uid: 1001, gid: 1000 }, args: [], pid: 77 }).stderr!,
    /^newuidmap: Target process 77 is owned by a different user: uid:1000 pw_uid:1000 st_uid:1001, gid:1000 pw_gid:1000 st_gid:1000$/,
  );
  assert.match(
    decide({ tool: 'newgidmap', target: { uid: 1001, gid: 1000 }, args: [], pid: 77 }).stderr!,
    /^newgidmap: Target 77 is owned/,
  );
});

test('newuidmap: without a readable /etc/subuid it exits silently, even for the own uid', () => {
  assert.equal(decide({ subids: null, args: ['0', '1000', '1'] }).stage, 'subid-file');
  const nul = decide({ subids: parseSubidDb('alice:1:1\nx\0\n'), args: ['0', '1000', '1'] });
  assert.equal(nul.stage, 'subid-file');
  assert.equal(nul.stderr, '');
});

test('newuidmap: argument errors come before any range check', () => {
  assert.equal(decide({ args: ['0', '1', '1', '2'] }).rule, 'argument-count');
  assert.equal(decide({ args: ['0', '999999999', '1', 'x', '1', '1'] }).rule, 'bad-number');
  assert.equal(decide({ args: ['0', '100000', '-1'] }).stderr, 'newuidmap: subuid overflow detected.');
});

test('newuidmap: then the kernel decides the write (overlaps, 340 lines, one page)', () => {
  const overlap = decide({ args: ['0', '100000', '10', '5', '100010', '10'] });
  assert.equal(overlap.stage, 'kernel');
  assert.equal(overlap.kernel?.errno, 'EINVAL');
  assert.equal(overlap.stderr, 'newuidmap: write to uid_map failed: Invalid argument');
  // Small numbers, so that 340 lines fit in one page.
  const lines = (n: number) => Array.from({ length: n }, (_, i) => [String(i), String(1 + i), '1']).flat();
  const low = parseSubidDb('alice:1:1000\n');
  assert.equal(decide({ subids: low, args: lines(340) }).allowed, true);
  assert.equal(decide({ subids: low, args: lines(341) }).kernel?.rule, 'too-many-lines');
  // With six-digit ids 340 lines are more than a page: newuidmap cannot write them.
  assert.equal(
    decide({ args: Array.from({ length: 340 }, (_, i) => [String(i), String(100000 + i), '1']).flat() }).kernel?.rule,
    'write-too-long',
  );
  const empty = decide({ args: [] });
  assert.equal(empty.stage, 'kernel', 'no mappings: the empty write is EINVAL');
  // 220 lines of 20 bytes ("4000000000 100000 1\n") are more than one page.
  const long = Array.from({ length: 220 }, (_, i) => [String(4000000000 + i), String(100000 + i), '1']).flat();
  assert.equal(decide({ args: long }).kernel?.rule, 'write-too-long');
  assert.equal(decide({ args: long.slice(0, 204 * 3) }).allowed, true, '204 lines = 4080 bytes fit');
});

test('newgidmap: own real gid → setgroups deny is written first; a subgid range leaves it alone', () => {
  const own = decide({ tool: 'newgidmap', args: ['0', '1000', '1'] });
  assert.equal(own.allowed, true);
  assert.equal(own.setgroups, 'deny');
  const sub = decide({ tool: 'newgidmap', args: ['0', '100000', '1', '1', '1000', '1'] });
  assert.equal(sub.setgroups, 'unchanged');
  const already = decide({ tool: 'newgidmap', args: ['0', '1000', '1'], setgroups: 'deny' });
  assert.equal(already.setgroups, 'unchanged');
});

test('newgidmap: the own-id rule uses the real gid, not the passwd gid', () => {
  const d = decide({
    tool: 'newgidmap',
    caller: { uid: 1000, gid: 50 },
    target: { uid: 1000, gid: 50 },
    grantAuxGroupSubids: true,
    args: ['0', '50', '1'],
  });
  assert.equal(d.allowed, true);
  assert.equal(d.ranges[0].via, 'own-id');
  const pwgid = decide({
    tool: 'newgidmap',
    caller: { uid: 1000, gid: 50 },
    target: { uid: 1000, gid: 50 },
    grantAuxGroupSubids: true,
    args: ['0', '1000', '1'],
  });
  assert.equal(pwgid.allowed, false);
  assert.equal(pwgid.stderr, 'newgidmap: gid range [0-1) -> [1000-1001) not allowed');
});

test('newgidmap: deny cannot be written once gid_map is written', () => {
  const d = decide({ tool: 'newgidmap', args: ['0', '1000', '1'], alreadyWritten: true });
  assert.equal(d.stage, 'setgroups');
  const sub = decide({ tool: 'newgidmap', args: ['0', '100000', '1'], alreadyWritten: true });
  assert.equal(sub.stage, 'kernel');
  assert.equal(sub.kernel?.errno, 'EPERM');
});

test('newuidmap: a range starting at 0 is written with CAP_SETFCAP kept, so the kernel accepts it', () => {
  const d = decideNewIdmap({ tool: 'newuidmap', caller: alice, accounts, subids: parseSubidDb('alice:0:0\n'), args: ['0', '0', '10'] });
  assert.equal(d.allowed, true);
});
