import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Accounts } from './accounts.js';
import { auditSubids, type AuditFile, type AuditReport, type Finding } from './audit.js';
import { parseSubidDb } from './subid-db.js';

const PASSWD = 'root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/:/bin/sh\nbob:x:1001:1001::/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n';
const GROUP = 'root:x:0:\nalice:x:1000:\nbob:x:1001:\nstaff:x:50:\nnogroup:x:65534:\n';
const CLEAN = 'alice:100000:65536\nbob:165536:65536\n';
const accounts = Accounts.parse(PASSWD, GROUP);

const file = (text: string, path = '/etc/subuid', extra: Partial<AuditFile> = {}): AuditFile => ({
  path,
  state: 'present',
  db: parseSubidDb(text),
  ...extra,
});
function audit(
  subuid: string,
  subgid = CLEAN,
  over: { subuid?: Partial<AuditFile>; subgid?: Partial<AuditFile>; accounts?: Accounts } = {},
): AuditReport {
  return auditSubids({
    subuid: file(subuid, '/etc/subuid', over.subuid),
    subgid: file(subgid, '/etc/subgid', over.subgid),
    accounts: over.accounts ?? accounts,
  });
}
const codes = (r: AuditReport) => r.findings.map((f) => `${f.severity}:${f.code}`).sort();
const find = (r: AuditReport, code: string): Finding => {
  const f = r.findings.find((x) => x.code === code);
  assert.ok(f, `expected a ${code} finding, got ${codes(r).join(' ')}`);
  return f!;
};

test('audit: a clean pair of files has no findings', () => {
  const r = audit(CLEAN);
  assert.deepEqual(r.findings, []);
  assert.deepEqual(r.counts, { error: 0, warning: 0, info: 0 });
  assert.deepEqual(r.entries, { subuid: 2, subgid: 2 });
});

// Each crafted subuid (subgid stays clean unless given) and the exact findings it must produce.
const CASES: Array<{ name: string; subuid: string; subgid?: string; expect: string[]; lines?: Record<string, number[]> }> = [
  {
    name: 'overlap between owners',
    subuid: 'alice:100000:65536\nbob:160000:65536\n',
    subgid: 'alice:100000:65536\nbob:160000:65536\n',
    expect: ['error:overlap', 'error:overlap'],
    lines: { overlap: [1, 2] },
  },
  {
    name: 'overlap with the owner given as a uid is still two owners',
    subuid: 'alice:100000:65536\n1001:100000:65536\n',
    subgid: 'alice:100000:65536\nbob:100000:65536\n',
    expect: ['error:overlap', 'error:overlap'],
  },
  {
    name: 'the same owner twice, by name and by uid, is a self-overlap',
    subuid: 'alice:100000:65536\n1000:100000:10\nbob:165536:65536\n',
    expect: ['warning:self-overlap'],
    lines: { 'self-overlap': [1, 2] },
  },
  {
    name: 'covers root',
    subuid: 'alice:0:65536\nbob:165536:65536\n',
    subgid: 'alice:0:65536\nbob:165536:65536\n',
    expect: [
      'error:covers-root',
      'error:covers-root',
      'error:covers-user',
      'error:covers-group',
      'warning:covers-own-id',
      'warning:covers-own-id',
      'warning:covers-overflow-id',
      'warning:covers-overflow-id',
    ],
  },
  {
    name: 'covers real users',
    subuid: 'alice:1001:65536\nbob:165536:65536\n',
    subgid: 'alice:1001:65536\nbob:165536:65536\n',
    expect: ['error:covers-user', 'error:covers-group', 'warning:covers-overflow-id', 'warning:covers-overflow-id'],
    lines: { 'covers-user': [1] },
  },
  {
    name: 'covers a group that is no user',
    subuid: CLEAN,
    subgid: 'alice:40:16\nalice:100000:65536\nbob:165536:65536\n',
    expect: ['error:covers-group', 'warning:uid-gid-mismatch'],
  },
  {
    name: "covers the owner's own id only",
    subuid: 'alice:1000:1\nalice:100000:65536\nbob:165536:65536\n',
    subgid: 'alice:1000:1\nalice:100000:65536\nbob:165536:65536\n',
    expect: ['warning:covers-own-id', 'warning:covers-own-id'],
  },
  {
    name: 'covers the overflow id',
    subuid: 'alice:65000:65536\nbob:165536:65536\n',
    subgid: 'alice:65000:65536\nbob:165536:65536\n',
    expect: ['warning:covers-overflow-id', 'warning:covers-overflow-id'],
  },
  {
    name: 'systemd foreign range and 2^31',
    subuid: 'alice:2147352576:65536\nbob:165536:65536\n',
    subgid: 'alice:2147352576:65536\nbob:165536:65536\n',
    expect: ['error:foreign-range', 'error:foreign-range'],
  },
  {
    name: 'at or above 2^31',
    subuid: 'alice:2147483648:65536\nbob:165536:65536\n',
    subgid: 'alice:2147483648:65536\nbob:165536:65536\n',
    expect: ['warning:high-range', 'warning:high-range'],
  },
  {
    name: 'uid and gid ranges differ',
    subuid: 'alice:100000:65536\nbob:165536:65536\n',
    subgid: 'alice:300000:65536\nbob:165536:65536\n',
    expect: ['warning:uid-gid-mismatch'],
  },
  {
    name: 'an owner only in one file',
    subuid: 'alice:100000:65536\nbob:165536:65536\n',
    subgid: 'alice:100000:65536\n',
    expect: ['warning:uid-gid-mismatch'],
  },
  {
    name: 'too small for a container, even joined',
    subuid: 'alice:100000:30000\nalice:130000:30000\nbob:165536:65536\n',
    subgid: 'alice:100000:30000\nalice:130000:30000\nbob:165536:65536\n',
    expect: ['warning:too-small', 'warning:too-small'],
  },
  {
    name: 'adjacent lines join into a full block',
    subuid: 'alice:100000:30000\nalice:130000:35536\nbob:165536:65536\n',
    subgid: 'alice:100000:65536\nbob:165536:65536\n',
    expect: [],
  },
  {
    name: 'owner without an account, by name and by uid',
    subuid: CLEAN + 'carol:300000:65536\n4242:400000:65536\n01000:500000:65536\n',
    subgid: CLEAN + 'carol:300000:65536\n4242:400000:65536\n01000:500000:65536\n',
    expect: [
      'warning:owner-unknown',
      'warning:owner-unknown',
      'warning:owner-unknown',
      'warning:owner-unknown',
      'warning:owner-unknown',
      'warning:owner-unknown',
    ],
  },
  {
    name: 'lines that do not parse',
    subuid: CLEAN + 'alice:300000\nalice:300000:65536 \nalice:3e5:1\nalice:300000:65536\r\n',
    expect: ['warning:unparsable-line', 'warning:unparsable-line', 'warning:unparsable-line', 'warning:unparsable-line'],
  },
  { name: 'blank and comment lines', subuid: '# subordinate ids\n\n' + CLEAN, expect: ['info:blank-line', 'info:comment-line'] },
  { name: 'NIS lines', subuid: CLEAN + '+alice:300000:65536\n', expect: ['warning:nis-line'] },
  { name: 'a commented-out entry is an entry', subuid: CLEAN + '#carol:300000:65536\n', expect: ['info:comment-entry'] },
  { name: 'fields after the third are ignored', subuid: 'alice:100000:65536:x\nbob:165536:65536\n', expect: ['warning:extra-fields'] },
  {
    name: 'octal, hex and signs',
    subuid: 'alice:0303240:65536\nbob:0x286a0:+65536\n',
    expect: ['warning:number-notation', 'warning:number-notation', 'warning:number-notation'],
  },
  {
    name: 'owner:0:0 grants every id',
    subuid: CLEAN + 'carol:0:0\n',
    subgid: CLEAN + 'carol:0:0\n',
    expect: [
      'error:grants-all',
      'error:grants-all',
      'error:covers-root',
      'error:covers-root',
      'error:covers-user',
      'error:covers-group',
      'error:foreign-range',
      'error:foreign-range',
      'error:overlap',
      'error:overlap',
      'error:overlap',
      'error:overlap',
      'warning:covers-overflow-id',
      'warning:covers-overflow-id',
      'warning:high-range',
      'warning:high-range',
      'warning:owner-unknown',
      'warning:owner-unknown',
    ],
  },
  {
    name: 'empty ranges',
    subuid: CLEAN + 'alice:300000:0\nalice:2:18446744073709551615\n',
    expect: ['warning:empty-range', 'warning:empty-range'],
  },
  {
    name: 'beyond the id space',
    subuid: CLEAN + 'alice:4294967295:10\nalice:4294900000:100000\n',
    subgid: CLEAN + 'alice:4294967295:10\nalice:4294900000:100000\n',
    expect: [
      'warning:beyond-id-space',
      'warning:beyond-id-space',
      'warning:beyond-id-space',
      'warning:beyond-id-space',
      'warning:high-range',
      'warning:high-range',
    ],
  },
];

for (const c of CASES) {
  test(`audit: ${c.name}`, () => {
    const r = audit(c.subuid, c.subgid ?? CLEAN);
    assert.deepEqual(codes(r), [...c.expect].sort());
    for (const [code, lines] of Object.entries(c.lines ?? {})) assert.deepEqual(find(r, code).lines, lines, code);
    for (const f of r.findings) {
      assert.ok(f.message.length > 10 && f.hint.length > 5, `${f.code} has a message and a hint`);
    }
  });
}

test('audit: file-level findings (missing, symlink, unreadable, NUL bytes, permissions)', () => {
  const missing = auditSubids({
    subuid: { path: '/etc/subuid', state: 'missing', db: null },
    subgid: file(CLEAN, '/etc/subgid'),
    accounts,
  });
  assert.ok(codes(missing).includes('warning:file-missing'));
  assert.equal(codes(missing).includes('warning:uid-gid-mismatch'), false, 'no mismatch is claimed against a missing file');
  assert.ok(codes(audit(CLEAN, CLEAN, { subuid: { state: 'symlink' } })).includes('error:file-symlink'));
  assert.ok(codes(audit(CLEAN + 'x\0y\n')).includes('error:file-unreadable'));
  assert.ok(codes(audit('alice:100000:65536\nbob\0:1\n:165536:65536\n', CLEAN, { subuid: { hasNul: true } })).includes('warning:nul-byte'));
  assert.deepEqual(codes(audit(CLEAN, CLEAN, { subuid: { mode: 0o100666, uid: 0, gid: 0 } })), ['error:file-permissions']);
  assert.deepEqual(codes(audit(CLEAN, CLEAN, { subuid: { mode: 0o100664, uid: 0, gid: 50 } })), ['error:file-permissions']);
  assert.deepEqual(codes(audit(CLEAN, CLEAN, { subuid: { mode: 0o100664, uid: 0, gid: 0 } })), []);
  assert.deepEqual(codes(audit(CLEAN, CLEAN, { subuid: { mode: 0o100644, uid: 1000, gid: 0 } })), ['warning:file-permissions']);
});

test('audit: the error count decides the exit status; info and warnings do not', () => {
  assert.equal(audit(CLEAN + '\n').counts.error, 0);
  assert.equal(audit('alice:100000:65536\nbob:100000:65536\n').counts.error, 1);
});

test('audit: many overlapping lines are all reported, findings are capped per code and counted', () => {
  const lines = Array.from({ length: 3000 }, (_, i) => `user${i}:100000:65536`).join('\n') + '\n';
  const r = auditSubids({ subuid: file(lines), subgid: file(lines, '/etc/subgid'), accounts, maxPerCode: 50 });
  assert.equal(r.findings.filter((f) => f.code === 'overlap').length, 50);
  assert.equal(r.findings.filter((f) => f.code === 'overlap').length + (r.truncated.overlap ?? 0), 2 * 2999);
  assert.ok(r.counts.error >= 2 * 2999);
});

test('audit: every line taking part in a cross-owner overlap appears in some overlap finding', () => {
  const text = 'a:0:10\nb:100:10\nc:5:200\nd:300:5\ne:302:1\nf:400:50\nf:420:10\n';
  const acc = Accounts.parse(['a', 'b', 'c', 'd', 'e', 'f'].map((n, i) => `${n}:x:${10 + i}:${10 + i}::/:/bin/sh`).join('\n'));
  const r = auditSubids({ subuid: file(text), subgid: file(text, '/etc/subgid'), accounts: acc });
  const inOverlap = new Set(r.findings.filter((f) => f.code === 'overlap' && f.file === 'subuid').flatMap((f) => f.lines));
  assert.deepEqual([...inOverlap].sort(), [1, 2, 3, 4, 5]);
  assert.ok(r.findings.some((f) => f.code === 'self-overlap' && f.file === 'subuid' && f.lines.join() === '6,7'));
});
