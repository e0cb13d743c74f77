import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkMapWrite, describeVerdict, type MapWriteOptions } from './check.js';
import { parseMap } from './format.js';

const user = (euid: number, egid = euid, setgroups: 'allow' | 'deny' = 'allow') => ({ privileged: false as const, euid, egid, setgroups });

const cases: Array<
  [name: string, text: string, options: MapWriteOptions, expect: { errno: null | 'EINVAL' | 'EPERM'; rule?: string; line?: number | null }]
> = [
  ['privileged writer: any valid multi-line map', '0 100000 65536\n65536 200000 10\n', {}, { errno: null }],
  [
    'rule already-written: maps are write-once',
    '0 100000 1\n',
    { alreadyWritten: true },
    { errno: 'EPERM', rule: 'already-written', line: null },
  ],
  [
    'rule already-written comes after the page-size check',
    `0 0 1${' '.repeat(5000)}`,
    { alreadyWritten: true },
    { errno: 'EINVAL', rule: 'write-too-long' },
  ],
  ['parse errors come before permission errors', '0 0 0\n', { writer: user(1000) }, { errno: 'EINVAL', rule: 'count-zero', line: 1 }],
  [
    "rule needs-setfcap: mapping the parent's uid 0 without CAP_SETFCAP",
    '5 5 1\n0 0 1\n',
    { writer: { privileged: true, capSetfcap: false } },
    { errno: 'EPERM', rule: 'needs-setfcap', line: 2 },
  ],
  [
    'rule needs-setfcap: only a line whose lower id is exactly 0',
    '0 1 10\n',
    { writer: { privileged: true, capSetfcap: false } },
    { errno: null },
  ],
  [
    'rule needs-setfcap does not apply to gid maps',
    '0 0 1\n',
    { kind: 'gid', writer: { privileged: true, capSetfcap: false } },
    { errno: null },
  ],
  ["unprivileged: one line mapping the writer's own euid", '0 1000 1\n', { writer: user(1000) }, { errno: null }],
  ['unprivileged: the inside id may be anything', '4000 1000 1\n', { writer: user(1000) }, { errno: null }],
  [
    'rule not-permitted: unprivileged count above 1',
    '0 1000 2\n',
    { writer: user(1000) },
    { errno: 'EPERM', rule: 'not-permitted', line: 1 },
  ],
  ['rule not-permitted: unprivileged two lines', '0 1000 1\n1 1001 1\n', { writer: user(1000) }, { errno: 'EPERM', rule: 'not-permitted' }],
  ['rule not-permitted: unprivileged mapping another uid', '0 1001 1\n', { writer: user(1000) }, { errno: 'EPERM', rule: 'not-permitted' }],
  [
    'rule not-permitted: a writer that does not own the namespace',
    '0 1000 1\n',
    { writer: { ...user(1000), isOwner: false } },
    { errno: 'EPERM', rule: 'not-permitted' },
  ],
  ['unprivileged gid map: own egid with setgroups deny', '0 1000 1\n', { kind: 'gid', writer: user(1000, 1000, 'deny') }, { errno: null }],
  [
    'rule setgroups-not-denied: own egid while setgroups is allow',
    '0 1000 1\n',
    { kind: 'gid', writer: user(1000, 1000, 'allow') },
    { errno: 'EPERM', rule: 'setgroups-not-denied' },
  ],
  [
    'unprivileged gid map compares the egid, not the euid',
    '0 1000 1\n',
    { kind: 'gid', writer: user(1000, 2000, 'deny') },
    { errno: 'EPERM', rule: 'not-permitted' },
  ],
  [
    'unprivileged uid map compares the euid, not the egid',
    '0 2000 1\n',
    { writer: user(1000, 2000) },
    { errno: 'EPERM', rule: 'not-permitted' },
  ],
  [
    'rule needs-setfcap before the unprivileged rule (euid 0 without caps)',
    '0 0 1\n',
    { writer: user(0) },
    { errno: 'EPERM', rule: 'needs-setfcap' },
  ],
  ['projid maps need no capability', '0 0 1\n5 7 10\n', { kind: 'projid', writer: user(1000) }, { errno: null }],
  [
    'rule outside-parent: lower range not mapped by the parent',
    '0 70000 1\n',
    { parent: parseMap('0 100000 65536') },
    { errno: 'EPERM', rule: 'outside-parent', line: 1 },
  ],
  [
    'rule outside-parent: lower range spanning two adjacent parent extents',
    '0 0 20\n',
    { parent: parseMap('0 100000 10\n10 100010 10') },
    { errno: 'EPERM', rule: 'outside-parent', line: 1 },
  ],
  ['composition inside one parent extent', '0 10 20\n', { parent: parseMap('0 100000 65536') }, { errno: null }],
  [
    'permission is checked before composition',
    '0 70000 2\n',
    { writer: user(1000), parent: parseMap('0 100000 65536') },
    { errno: 'EPERM', rule: 'not-permitted' },
  ],
  [
    'unprivileged own-id test goes through the parent map',
    '0 5 1\n',
    { writer: user(5), parent: parseMap('0 100000 65536') },
    { errno: null },
  ],
];

describe("checkMapWrite: the kernel's verdict", () => {
  for (const [name, text, options, expect] of cases) {
    test(name, () => {
      const v = checkMapWrite(text, options);
      assert.equal(v.errno, expect.errno, describeVerdict(v));
      assert.equal(v.ok, expect.errno === null);
      if (expect.rule !== undefined) assert.equal(v.rule, expect.rule);
      if (expect.line !== undefined) assert.equal(v.line, expect.line);
      if (!v.ok) assert.ok(v.message && v.hint, 'a refusal names the rule and what to do');
    });
  }
});

test('the installed map holds kernel ids: lower ids composed through the parent', () => {
  const v = checkMapWrite('0 10 20\n100 1000 5\n', { parent: parseMap('0 100000 65536') });
  assert.ok(v.installed);
  assert.deepEqual(
    v.installed.extents.map((e) => [e.first, e.lower, e.count]),
    [
      [0, 100010, 20],
      [100, 101000, 5],
    ],
  );
  // The verdict's extents stay as written (parent-relative), for --json.
  assert.deepEqual(
    v.extents.map((e) => [e.first, e.lower, e.count]),
    [
      [0, 10, 20],
      [100, 1000, 5],
    ],
  );
});

test('rule outside-parent names the first line in written order', () => {
  const v = checkMapWrite('0 10 1\n1 99999999 1\n2 88888888 1\n', { parent: parseMap('0 100000 65536') });
  assert.equal(v.line, 2);
});
