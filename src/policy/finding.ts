import type { SubidFileKind } from './subid-db.js';

/** A finding of the subid audit (audit.ts), and the sink the audit's passes add them to. */

export type Severity = 'error' | 'warning' | 'info';

export type FindingCode =
  | 'file-missing'
  | 'file-symlink'
  | 'file-unreadable'
  | 'file-permissions'
  | 'nul-byte'
  | 'unparsable-line'
  | 'blank-line'
  | 'comment-line'
  | 'nis-line'
  | 'comment-entry'
  | 'extra-fields'
  | 'number-notation'
  | 'grants-all'
  | 'empty-range'
  | 'beyond-id-space'
  | 'overlap'
  | 'self-overlap'
  | 'covers-root'
  | 'covers-user'
  | 'covers-group'
  | 'covers-own-id'
  | 'covers-overflow-id'
  | 'foreign-range'
  | 'high-range'
  | 'uid-gid-mismatch'
  | 'too-small'
  | 'owner-unknown';

export interface Finding {
  readonly severity: Severity;
  readonly code: FindingCode;
  readonly file: SubidFileKind | null;
  /** 1-based line numbers involved, in the file named by `file` (both files for uid-gid-mismatch: see `otherLines`). */
  readonly lines: readonly number[];
  readonly otherLines?: readonly number[];
  readonly owner: string | null;
  /** The ids concerned, half-open. */
  readonly range: readonly [number, number] | null;
  readonly message: string;
  readonly hint: string;
}

type FindingBody = Omit<Finding, 'severity' | 'code'>;

/**
 * Collects findings, keeping at most `max` per code. A finding is built
 * only when it will be listed: a 100,000-line file can yield as many
 * findings of one kind, and only their number is wanted past the cap.
 */
export class FindingSink {
  readonly findings: Finding[] = [];
  readonly truncated: Record<string, number> = {};
  readonly truncatedBySeverity: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  private readonly perCode = new Map<string, number>();
  constructor(private readonly max: number) {}
  add(severity: Severity, code: FindingCode, build: () => FindingBody): void {
    const n = this.perCode.get(code) ?? 0;
    this.perCode.set(code, n + 1);
    if (n >= this.max) {
      this.truncated[code] = (this.truncated[code] ?? 0) + 1;
      this.truncatedBySeverity[severity]++;
    } else {
      this.findings.push({ severity, code, ...build() });
    }
  }
}
