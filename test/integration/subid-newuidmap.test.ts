import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  readAccounts,
  readLoginDefs,
  readSubidFile,
  removeSubidRangeFromFile,
  addSubidRangeToFile,
  shadowView,
} from '../../src/host/index.js';
import { getdefBool } from '../../src/policy/login-defs.js';
import { decideNewIdmap, type NewIdmapInput } from '../../src/policy/newidmap.js';
import { ownedIntervals, ownerView } from '../../src/policy/subid-owner.js';
import type { SubidDb } from '../../src/policy/subid-db.js';
import type { Accounts } from '../../src/policy/accounts.js';
import { rng, type Rng } from '../support/map-cases.js';
import { compareRun, Tally } from '../support/subid-compare.js';
import { assertTools, harnessUnavailable, Holder, mustRun, run, runTool } from '../support/subid-harness.js';
import { randomRequest, type RequestSpace } from '../support/subid-requests.js';

/**
 * newuidmap and newgidmap (Debian's uidmap, shadow-utils 4.13) against
 * fsidmap's decideNewIdmap, on this machine's real /etc/subuid, /etc/subgid
 * and /etc/passwd: test users (prefix fsidt4) get ranges through usermod
 * (under shadow's lock) and one numeric-owner line through fsidmap's own
 * locked, atomic writer; for hundreds of random requests each user runs the
 * real binary on a fresh user namespace it owns, and the exit status, the
 * step that refused, the exact stderr line, the installed map and
 * /proc/PID/setgroups must all be what fsidmap predicts.
 */
const skip = harnessUnavailable();
const seed = Number(process.env.FSIDMAP_SEED ?? 20260404);
const scale = Number(process.env.FSIDMAP_DIFF_SCALE ?? 1);
const suffix = String(process.pid);

interface TestUser {
  name: string;
  uid: number;
  gid: number;
}

function snapshot(): { accounts: Accounts; subuid: SubidDb | null; subgid: SubidDb | null; grantAux: boolean } {
  const accounts = readAccounts({ passwd: '/etc/passwd', group: '/etc/group' });
  return {
    accounts,
    subuid: shadowView(readSubidFile('/etc/subuid')),
    subgid: shadowView(readSubidFile('/etc/subgid')),
    grantAux: getdefBool(readLoginDefs('/etc/login.defs'), 'GRANT_AUX_GROUP_SUBIDS'),
  };
}

function space(db: SubidDb | null, user: TestUser, accounts: Accounts, ownId: number, others: readonly TestUser[]): RequestSpace {
  const view = db ? ownerView(db, user.name, accounts) : null;
  const entries = view ? [...view.exact, ...view.byUid] : [];
  const foreign = others.flatMap((o) => (db ? ownedIntervals(ownerView(db, o.name, accounts)) : []));
  return {
    owned: view ? ownedIntervals(view) : [],
    boundaries: entries.map((e) => Number(e.first)).filter((b) => b < 4294967295),
    ownId,
    foreign,
  };
}

/**
 * userdel, and userdel -f when it refuses because some process runs with one of the user's ids
 * (shadow 4.13 also counts processes in its subordinate ranges as the user's); -f kills nothing.
 */
function removeUser(name: string): void {
  if (run('userdel', [name]).status !== 0) run('userdel', ['-f', name]);
}

/** Removes test users left behind by an earlier run of this file whose process is gone. */
function removeStaleUsers(accounts: Accounts): void {
  for (const u of accounts.users) {
    const m = /^fsidt4[a-z](\d+)$/.exec(u.name);
    if (!m || m[1] === suffix) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue;
    } catch {
      /* gone */
    }
    removeUser(u.name);
  }
}

describe('newuidmap/newgidmap vs fsidmap on the real /etc files', { skip }, () => {
  const users: TestUser[] = [];
  const base = 1_500_000_000 + (process.pid % 3000) * 200_000;
  const numericLines: Array<{ file: string; owner: string; start: number; count: number }> = [];

  before(() => {
    assertTools();
    removeStaleUsers(snapshot().accounts);
    for (const tag of ['a', 'b']) {
      const name = `fsidt4${tag}${suffix}`;
      // No automatic subordinate range: useradd would take the lowest free one (100000+), where other
      // suites run namespaces, and userdel refuses to remove a user whose subordinate ids are in use.
      mustRun('useradd', ['-M', '-s', '/usr/sbin/nologin', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', name]);
      const pw = snapshot().accounts.getpwnam(name);
      assert.ok(pw, `${name} was created`);
      users.push({ name, uid: pw.uid, gid: pw.gid });
    }
    const [a, b] = users;
    // a: two adjacent pieces (one block when joined), a separate small range; b: one block.
    mustRun('usermod', [
      '--add-subuids',
      `${base}-${base + 29999}`,
      '--add-subuids',
      `${base + 30000}-${base + 65535}`,
      '--add-subuids',
      `${base + 70000}-${base + 70099}`,
      '--add-subgids',
      `${base}-${base + 65535}`,
      '--add-subgids',
      `${base + 80000}-${base + 80009}`,
      a.name,
    ]);
    mustRun('usermod', [
      '--add-subuids',
      `${base + 100000}-${base + 165535}`,
      '--add-subgids',
      `${base + 100000}-${base + 165535}`,
      b.name,
    ]);
    // a numeric-owner line right after a's named block: newuidmap joins it through find_range's uid pass.
    for (const file of ['/etc/subuid', '/etc/subgid']) {
      const line = { file, owner: String(a.uid), start: base + 65536, count: 1000 };
      const edit = addSubidRangeToFile(file, line.owner, line.start, line.count);
      assert.equal(edit.action, 'appended');
      numericLines.push(line);
    }
  });

  after(() => {
    for (const l of numericLines) removeSubidRangeFromFile(l.file, l.owner, l.start, l.count);
    for (const u of users) removeUser(u.name);
    // Nothing of ours may be left in the files; whatever is left is removed, and the test fails.
    const owners = new Set(users.flatMap((u) => [u.name, String(u.uid)]));
    const left: string[] = [];
    for (const file of ['/etc/subuid', '/etc/subgid']) {
      for (const l of readSubidFile(file).db?.lines ?? []) {
        if (!l.range || !owners.has(l.range.owner)) continue;
        left.push(`${file}: ${l.text}`);
        removeSubidRangeFromFile(file, l.range.owner, l.range.start, l.range.count);
      }
    }
    assert.deepEqual(left, [], 'test lines were left behind');
    for (const u of users) assert.equal(snapshot().accounts.getpwnam(u.name), undefined, `${u.name} was removed`);
  });

  test('random requests: exit status, refusing step, stderr, installed map and setgroups agree', async () => {
    const r: Rng = rng(seed);
    const tally = new Tally();
    const failures: string[] = [];
    let transient = 0;
    const n = Math.round(400 * scale);
    for (let i = 0; i < n; i++) {
      const tool = r() < 0.5 ? 'newuidmap' : 'newgidmap';
      const who = r() < 0.8 ? users[0] : users[1];
      const others = users.filter((u) => u !== who);
      const snap = snapshot();
      const db = tool === 'newuidmap' ? snap.subuid : snap.subgid;
      const req = randomRequest(r, space(db, who, snap.accounts, tool === 'newuidmap' ? who.uid : who.gid, others));
      // Mostly the caller's own namespace; sometimes someone else's, or a real gid that is not the passwd gid.
      const twist = r();
      const holderOwner = twist < 0.04 ? others[0] : who;
      const callerGid = twist >= 0.04 && twist < 0.08 ? others[0].gid : who.gid;
      const holderGid = twist >= 0.06 && twist < 0.08 ? others[0].gid : holderOwner.gid;
      const input: NewIdmapInput = {
        tool,
        args: req.args,
        caller: { uid: who.uid, gid: callerGid },
        target: { uid: holderOwner.uid, gid: holderGid },
        accounts: snap.accounts,
        subids: db,
        grantAuxGroupSubids: snap.grantAux,
      };
      const attempt = async () => {
        const holder = await Holder.start(holderOwner.uid, holderGid);
        try {
          const pred = decideNewIdmap({ ...input, pid: holder.pid });
          const obs = runTool(tool, holder.pid, req.args, who.uid, callerGid);
          return { pred, diffs: compareRun(pred, obs, holder) };
        } finally {
          await holder.stop();
        }
      };
      let res = await attempt();
      if (res.diffs.length > 0) {
        // Other test suites edit these files concurrently; a disagreement must survive a second try.
        const again = await attempt();
        if (again.diffs.length === 0) {
          transient++;
          res = again;
        }
      }
      tally.add(res.pred);
      if (res.diffs.length > 0)
        failures.push(`#${i} ${tool} ${req.label} ${JSON.stringify(req.args).slice(0, 200)}: ${res.diffs.join('; ')}`);
    }
    console.log(`real /etc files: ${tally} (seed ${seed}, ${transient} agreed only on a second try)`);
    assert.deepEqual(failures, []);
    assert.ok(tally.total >= 100);
  });
});
