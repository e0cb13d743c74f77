import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readAccounts, readLoginDefs, readSubidFile, shadowView } from '../../src/host/index.js';
import { getdefBool } from '../../src/policy/login-defs.js';
import { decideNewIdmap, type NewIdmapTool } from '../../src/policy/newidmap.js';
import { ownedIntervals, ownerView } from '../../src/policy/subid-owner.js';
import { pick, rng } from '../support/map-cases.js';
import { CraftedEtc, type EtcFiles } from '../support/crafted-etc.js';
import { compareRun, Tally } from '../support/subid-compare.js';
import { assertTools, harnessUnavailable, Holder, runTool } from '../support/subid-harness.js';
import { randomRequest } from '../support/subid-requests.js';

/**
 * The real newuidmap/newgidmap on hostile files: a private mount namespace
 * gets a crafted /etc (subuid, subgid, passwd, group, login.defs), the
 * binary runs there as a made-up user against that user's fresh user
 * namespace, and fsidmap reads the same files through its own readers and
 * must predict the outcome exactly. Covers shadow's number parsing in the
 * files, comments and NIS lines, trailing blanks and CRLF, fields after the
 * third, "owner:0:0", 64-bit wrap, 1024-byte lines, NUL bytes, a missing or
 * symlinked file, owners by uid and by alias, duplicate passwd names, a
 * caller without a passwd entry, GRANT_AUX_GROUP_SUBIDS and 340/341 lines.
 */
const skip = harnessUnavailable();
const seed = Number(process.env.FSIDMAP_SEED ?? 20260405);
const scale = Number(process.env.FSIDMAP_DIFF_SCALE ?? 1);

const U1 = 61000 + (process.pid % 1000) * 4,
  U2 = U1 + 1,
  U3 = U1 + 2,
  G_OTHER = U1 + 3;
const PASSWD = `root:x:0:0::/root:/bin/sh\nua:x:${U1}:${U1}::/:/bin/sh\nub:x:${U2}:${U2}::/:/bin/sh\n`;
const GROUP = `root:x:0:\nua:x:${U1}:\nub:x:${U2}:\nother:x:${G_OTHER}:ua\n`;

interface Caller {
  uid: number;
  gid: number;
  target?: { uid: number; gid: number };
}
interface Scenario {
  name: string;
  files: Partial<EtcFiles> & Pick<EtcFiles, 'subuid'>;
  caller?: Caller;
  targeted: Array<[NewIdmapTool | 'both', string]>;
  random?: number;
}

const same = (s: string) => ({ subuid: s, subgid: s });
const SCENARIOS: Scenario[] = [
  {
    name: 'owners by uid, by alias and zero-padded',
    files: {
      passwd: PASSWD + `alias:x:${U1}:${U1}::/:/bin/sh\n`,
      ...same(`${U1}:200000:1000\nalias:201000:1000\n0${U1}:300000:10\nua:202000:100\nub:210000:1000\n`),
    },
    targeted: [
      ['both', '0 200000 2100'],
      ['both', '0 300000 1'],
      ['both', '0 201500 600'],
      ['both', '0 202000 101'],
      ['both', '0 210000 1'],
    ],
  },
  {
    name: 'comments, NIS, blanks, trailing blanks, CR, extra fields, octal',
    files: same(
      '# ua:100000:65536\n#ua:300000:10\n+ua:400000:100\n-ua:410000:100\nua:500000:100 \nua:600000:100\r\nua:700000:100:extra\nua: 800000:100\nua:0303240:16\n\nua:900000:100\n',
    ),
    targeted: [
      ['both', '0 400000 1'],
      ['both', '0 410000 1'],
      ['both', '0 500000 1'],
      ['both', '0 600000 1'],
      ['both', '0 700000 100'],
      ['both', '0 800000 100'],
      ['both', '0 100000 16'],
      ['both', '0 100000 17'],
      ['both', '0 300000 1'],
      ['both', '0 900000 100'],
    ],
  },
  {
    name: 'owner:0:0 grants every id',
    files: same('ua:0:0\n'),
    targeted: [
      ['both', '0 0 1'],
      ['both', '0 1 4294967294'],
      ['both', '0 4294967294 1'],
      ['both', '0 0 65536 65536 100000 10'],
    ],
  },
  {
    name: '64-bit start and count arithmetic',
    files: same('ua:1:18446744073709551615\nub:18446744073709551615:1\nua:-5:10\n'),
    targeted: [
      ['both', '0 1 100'],
      ['both', '0 0 1'],
      ['both', '0 4294967294 1'],
      ['both', '0 0 2'],
    ],
  },
  {
    name: 'long lines (1023 and 1024 bytes, one past the read buffer)',
    files: same(
      `ua:100000:100:${'x'.repeat(1100)}\nua:200000:100:${'y'.repeat(1023 - 'ua:200000:100:'.length)}\n${'z'.repeat(5000)}\nua:300000:100\n`,
    ),
    targeted: [
      ['both', '0 100000 1'],
      ['both', '0 200000 100'],
      ['both', '0 300000 100'],
    ],
  },
  {
    name: 'a NUL byte glues two lines',
    files: same('ua:1\0junk\n:5\nua:100000:100\n'),
    targeted: [
      ['both', '0 1 5'],
      ['both', '0 1 6'],
      ['both', '0 100000 100'],
    ],
  },
  {
    name: 'a NUL byte in the last line: shadow cannot read the file',
    files: same('ua:100000:100\nub\0:1:1\n'),
    targeted: [
      ['both', `0 ${U1} 1`],
      ['both', '0 100000 1'],
    ],
  },
  {
    name: 'no /etc/subuid',
    files: { subuid: null, subgid: 'ua:100000:100\n' },
    targeted: [
      ['both', `0 ${U1} 1`],
      ['both', '0 100000 100'],
    ],
  },
  {
    name: 'a symlinked /etc/subuid',
    files: { subuid: { symlinkTo: 'ua:100000:100\n' }, subgid: 'ua:100000:100\n' },
    targeted: [['both', '0 100000 100']],
  },
  {
    name: 'a caller without a passwd entry',
    files: same(`${U3}:100000:100\n`),
    caller: { uid: U3, gid: U3 },
    targeted: [
      ['both', '0 100000 1'],
      ['both', `0 ${U3} 1`],
    ],
    random: 3,
  },
  {
    name: 'duplicate passwd names: the second "ua" reaches the first one\'s uid lines',
    files: { passwd: PASSWD + `ua:x:${U3}:${U3}::/:/bin/sh\n`, ...same(`ua:100000:100\n${U1}:200000:100\n${U3}:300000:100\n`) },
    caller: { uid: U3, gid: U3 },
    targeted: [
      ['both', '0 100000 1'],
      ['both', '0 200000 1'],
      ['both', '0 300000 1'],
      ['both', `0 ${U3} 1`],
    ],
  },
  {
    name: 'GRANT_AUX_GROUP_SUBIDS yes: another real gid',
    files: { loginDefs: '# defs\nGRANT_AUX_GROUP_SUBIDS\t"YES"\n', ...same('ua:100000:65536\n') },
    caller: { uid: U1, gid: G_OTHER },
    targeted: [
      ['both', `0 ${G_OTHER} 1`],
      ['both', `0 ${U1} 1`],
      ['both', '0 100000 65536'],
    ],
  },
  {
    name: 'GRANT_AUX_GROUP_SUBIDS no: another real gid is refused',
    files: { loginDefs: 'GRANT_AUX_GROUP_SUBIDS no\n', ...same('ua:100000:65536\n') },
    caller: { uid: U1, gid: G_OTHER },
    targeted: [['both', `0 ${G_OTHER} 1`]],
    random: 3,
  },
  {
    name: 'short ids: 340 lines fit in a page, 341 are too many',
    files: same('ua:1:5000\n'),
    targeted: [
      ['both', Array.from({ length: 340 }, (_, i) => `${i} ${i + 1} 1`).join(' ')],
      ['both', Array.from({ length: 341 }, (_, i) => `${i} ${i + 1} 1`).join(' ')],
    ],
  },
  { name: 'CRLF line endings', files: same('ua:100000:65536\r\nub:200000:65536\r\n'), targeted: [['both', '0 100000 1']] },
  {
    name: 'adjacent and overlapping entries, own id inside a range',
    files: same(`ua:100000:10\nua:100010:10\nua:100015:100\nub:100100:50\nua:${U1 - 5}:10\n`),
    targeted: [
      ['both', '0 100000 115'],
      ['both', '0 100000 116'],
      ['both', `0 ${U1} 1`],
      ['both', `0 ${U1 - 5} 10`],
      ['both', `0 ${U1 - 5} 10 10 100000 1`],
    ],
  },
];

describe('newuidmap/newgidmap vs fsidmap with crafted /etc files', { skip }, () => {
  let etc: CraftedEtc;
  before(async () => {
    assertTools();
    etc = await CraftedEtc.start();
  });
  after(async () => {
    await etc?.stop();
  });

  test('hostile files and requests: exit status, refusing step, stderr, installed map and setgroups agree', async () => {
    const r = rng(seed);
    const tally = new Tally();
    const failures: string[] = [];
    for (const sc of SCENARIOS) {
      etc.write({ passwd: PASSWD, group: GROUP, subgid: sc.files.subuid, ...sc.files });
      const accounts = readAccounts({ passwd: etc.path('passwd'), group: etc.path('group') });
      const grantAux = getdefBool(readLoginDefs(etc.path('login.defs')), 'GRANT_AUX_GROUP_SUBIDS');
      const caller = sc.caller ?? { uid: U1, gid: U1 };
      const target = caller.target ?? { uid: caller.uid, gid: caller.gid };
      const dbs = { newuidmap: shadowView(readSubidFile(etc.path('subuid'))), newgidmap: shadowView(readSubidFile(etc.path('subgid'))) };
      const requests: Array<{ tool: NewIdmapTool; args: string[]; label: string }> = [];
      for (const [tool, text] of sc.targeted) {
        for (const t of tool === 'both' ? (['newuidmap', 'newgidmap'] as const) : [tool])
          requests.push({ tool: t, args: text.split(' '), label: 'targeted' });
      }
      for (let i = 0; i < Math.round((sc.random ?? 16) * scale); i++) {
        const tool = pick(r, ['newuidmap', 'newgidmap'] as const);
        const db = dbs[tool];
        const name = accounts.getpwuid(caller.uid)?.name ?? 'nobody-here';
        const view = db ? ownerView(db, name, accounts) : null;
        const req = randomRequest(r, {
          owned: view ? ownedIntervals(view) : [],
          boundaries: view ? [...view.exact, ...view.byUid].map((e) => Number(e.first)).filter((b) => b < 4294967295) : [],
          ownId: tool === 'newuidmap' ? caller.uid : caller.gid,
          foreign: db ? ownedIntervals(ownerView(db, 'ub', accounts)) : [],
        });
        requests.push({ tool, args: req.args, label: req.label });
      }
      for (const q of requests) {
        const holder = await Holder.start(target.uid, target.gid);
        try {
          const pred = decideNewIdmap({
            tool: q.tool,
            args: q.args,
            caller,
            target,
            accounts,
            subids: dbs[q.tool],
            grantAuxGroupSubids: grantAux,
            pid: holder.pid,
          });
          const obs = runTool(q.tool, holder.pid, q.args, caller.uid, caller.gid, etc.nsPid);
          const diffs = compareRun(pred, obs, holder);
          tally.add(pred);
          if (diffs.length > 0)
            failures.push(`[${sc.name}] ${q.tool} ${q.label} ${JSON.stringify(q.args).slice(0, 160)}: ${diffs.join('; ')}`);
        } finally {
          await holder.stop();
        }
      }
    }
    console.log(`crafted /etc files: ${tally} over ${SCENARIOS.length} scenarios (seed ${seed})`);
    assert.deepEqual(failures, []);
  });
});
