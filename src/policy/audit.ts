import type { Accounts } from './accounts.js';
import { auditLines } from './audit-lines.js';
import { auditOwners } from './audit-owners.js';
import { type Finding, FindingSink, type Severity } from './finding.js';
import type { SubidDb, SubidFileKind } from './subid-db.js';

export type { Finding, FindingCode, Severity } from './finding.js';

/**
 * `fsidmap subid audit`: everything an administrator of a shared host should
 * know about /etc/subuid and /etc/subgid, each finding with a severity, the
 * lines involved and what to do. Errors are grants that let a user reach ids
 * that are not theirs to give (other owners' ranges, real accounts, root,
 * systemd's foreign range, "owner:0:0" which shadow reads as every id) or
 * files newuidmap cannot use at all. Pure: the files come in parsed.
 */

export interface AuditFile {
  readonly path: string;
  /** How the file stands on disk; only 'present' files have a db. */
  readonly state: 'present' | 'missing' | 'symlink';
  readonly db: SubidDb | null;
  /** lstat facts, for the permission checks (absent: not checked). */
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly hasNul?: boolean;
}

export interface AuditInput {
  readonly subuid: AuditFile;
  readonly subgid: AuditFile;
  readonly accounts: Accounts;
  /** At most this many findings per code (default 1000); the rest are counted in `truncated`. */
  readonly maxPerCode?: number;
}

export interface AuditReport {
  readonly findings: readonly Finding[];
  readonly counts: { readonly error: number; readonly warning: number; readonly info: number };
  /** Findings left out per code because of maxPerCode. */
  readonly truncated: Readonly<Record<string, number>>;
  readonly entries: { readonly subuid: number; readonly subgid: number };
  readonly lines: { readonly subuid: number; readonly subgid: number };
}

const ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

export function auditSubids(input: AuditInput): AuditReport {
  const sink = new FindingSink(input.maxPerCode ?? 1000);
  for (const kind of ['subuid', 'subgid'] as const) auditFile(kind, input[kind], sink);
  const prepared = {
    subuid: input.subuid.db ? auditLines('subuid', input.subuid.db, input.accounts, sink) : [],
    subgid: input.subgid.db ? auditLines('subgid', input.subgid.db, input.accounts, sink) : [],
  };
  auditOwners(prepared, sink, { subuid: input.subuid.db !== null, subgid: input.subgid.db !== null });
  const findings = sink.findings.sort(
    (a, b) =>
      ORDER[a.severity] - ORDER[b.severity] ||
      (a.file ?? '').localeCompare(b.file ?? '') ||
      (a.lines[0] ?? 0) - (b.lines[0] ?? 0) ||
      a.code.localeCompare(b.code),
  );
  const counts = { error: 0, warning: 0, info: 0 };
  for (const f of findings) counts[f.severity]++;
  for (const sev of ['error', 'warning', 'info'] as const) counts[sev] += sink.truncatedBySeverity[sev];
  const count = (f: AuditFile) => f.db?.lines.filter((l) => l.range).length ?? 0;
  return {
    findings,
    counts,
    truncated: sink.truncated,
    entries: { subuid: count(input.subuid), subgid: count(input.subgid) },
    lines: { subuid: input.subuid.db?.lines.length ?? 0, subgid: input.subgid.db?.lines.length ?? 0 },
  };
}

function auditFile(kind: SubidFileKind, f: AuditFile, sink: FindingSink): void {
  const tool = kind === 'subuid' ? 'newuidmap' : 'newgidmap';
  const base = { file: kind, lines: [], owner: null, range: null } as const;
  if (f.state === 'missing') {
    sink.add('warning', 'file-missing', () => ({
      ...base,
      message: `${f.path} does not exist: ${tool} exits 1 for every user, even for their own id`,
      hint: `create it (an empty file is enough), e.g. touch ${f.path} && chmod 644 ${f.path}`,
    }));
    return;
  }
  if (f.state === 'symlink') {
    sink.add('error', 'file-symlink', () => ({
      ...base,
      message: `${f.path} is a symbolic link: shadow opens it with O_NOFOLLOW, so ${tool} exits 1 for every user`,
      hint: 'replace the link with a regular file holding the entries',
    }));
  }
  if (f.db && !f.db.readable) {
    sink.add('error', 'file-unreadable', () => ({
      ...base,
      message: `${f.path}'s last line contains a NUL byte: shadow's reader fails on it and ${tool} exits 1 for every user`,
      hint: "remove the NUL bytes (e.g. tr -d '\\000')",
    }));
  } else if (f.hasNul) {
    sink.add('warning', 'nul-byte', () => ({
      ...base,
      message: `${f.path} contains NUL bytes: shadow cuts the line there and glues the next line on`,
      hint: "remove the NUL bytes (e.g. tr -d '\\000')",
    }));
  }
  const mode = f.mode;
  if (mode !== undefined) {
    const otherWrite = (mode & 0o002) !== 0;
    const groupWrite = (mode & 0o020) !== 0 && f.gid !== 0;
    if (otherWrite || groupWrite) {
      sink.add('error', 'file-permissions', () => ({
        ...base,
        message: `${f.path} is writable by ${otherWrite ? 'everyone' : `group ${f.gid}`} (mode ${(mode & 0o7777).toString(8)}): anyone who can write it can grant themselves any id`,
        hint: `chmod 644 ${f.path}`,
      }));
    }
    if (f.uid !== undefined && f.uid !== 0) {
      sink.add('warning', 'file-permissions', () => ({
        ...base,
        message: `${f.path} is owned by uid ${f.uid}, not root: that user can grant ids`,
        hint: `chown root:root ${f.path}`,
      }));
    }
  }
}
