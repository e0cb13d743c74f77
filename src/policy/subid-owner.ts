import type { Accounts } from './accounts.js';
import type { SubidDb, SubidLine, SubidRange } from './subid-db.js';

/**
 * Which subordinate ranges a user may use, as lib/subordinateio.c decides:
 * find_range looks for an entry containing an id, first among entries whose
 * owner is the user's name exactly, then (only for the files /etc/subuid and
 * /etc/subgid) among entries whose owner is the user's uid in decimal or a
 * name getpwnam resolves to the same uid; have_range follows adjacent
 * entries, so one request may span several lines.
 */

const MOD = 1n << 64n;

/** An entry with its inclusive [first, last] as shadow computes it: last = start + count - 1 in unsigned long. */
export interface OwnedEntry {
  readonly line: SubidLine;
  readonly range: SubidRange;
  readonly first: bigint;
  readonly last: bigint;
}

export interface OwnerView {
  readonly name: string;
  /** Pass 1: owner string equal to the name, in file order. */
  readonly exact: readonly OwnedEntry[];
  /** Pass 2: owner is the uid in decimal or a name with the same uid, in file order (empty when pass 2 does not run). */
  readonly byUid: readonly OwnedEntry[];
}

export interface OwnerOptions {
  /**
   * find_range's second pass runs only when the database is the file
   * /etc/subuid or /etc/subgid by that name. fsidmap treats any file it is
   * given as standing in for those (default true).
   */
  readonly uidFallback?: boolean;
}

export function ownedEntry(line: SubidLine, range: SubidRange): OwnedEntry {
  // Unsigned wrap: "owner:0:0" gives last = ULONG_MAX, an entry containing every id.
  return { line, range, first: range.start, last: (((range.start + range.count - 1n) % MOD) + MOD) % MOD };
}

/** The entries a user (by name, as newuidmap's pw->pw_name) can reach through find_range. */
export function ownerView(db: SubidDb, name: string, accounts: Accounts, options: OwnerOptions = {}): OwnerView {
  const exact: OwnedEntry[] = [];
  const byUid: OwnedEntry[] = [];
  const pw = options.uidFallback === false ? undefined : accounts.getpwnam(name);
  const uidString = pw === undefined ? '' : String(pw.uid);
  for (const line of db.lines) {
    const r = line.range;
    if (!r) continue;
    if (r.owner === name) exact.push(ownedEntry(line, r));
    if (pw !== undefined && (r.owner === uidString || accounts.getpwnam(r.owner)?.uid === pw.uid)) byUid.push(ownedEntry(line, r));
  }
  return { name, exact, byUid };
}

/** find_range(db, owner, val). */
export function findRange(view: OwnerView, val: bigint): OwnedEntry | undefined {
  for (const e of view.exact) if (val >= e.first && val <= e.last) return e;
  for (const e of view.byUid) if (val >= e.first && val <= e.last) return e;
  return undefined;
}

export interface HaveRange {
  readonly ok: boolean;
  /** The entries the walk went through, in order (all of them when ok). */
  readonly used: readonly OwnedEntry[];
}

/** have_range(db, owner, start, count), step for step, in 64-bit unsigned arithmetic. */
export function haveRange(view: OwnerView, startIn: bigint, countIn: bigint): HaveRange {
  // have_sub_uids/have_sub_gids take the start as uid_t/gid_t.
  let start = startIn & 0xffffffffn;
  let count = countIn;
  const used: OwnedEntry[] = [];
  if (count === 0n) return { ok: false, used };
  const end = (start + count - 1n) % MOD;
  let range = findRange(view, start);
  while (range) {
    used.push(range);
    const last = range.last;
    if (last >= (start + count - 1n) % MOD) return { ok: true, used };
    count = (((end - last) % MOD) + MOD) % MOD;
    start = (last + 1n) % MOD;
    range = findRange(view, start);
  }
  return { ok: false, used };
}

/**
 * The ids the user owns through the file, as sorted, merged half-open
 * [start, end) intervals of valid ids (0..4294967294). have_range answers
 * "is [a, b] inside this union" (each step continues from an owned id), so
 * this is the same rule in a form that can name what is missing.
 */
export function ownedIntervals(view: OwnerView): Array<[number, number]> {
  const all = [...view.exact, ...view.byUid];
  const spans: Array<[number, number]> = [];
  for (const e of all) {
    // Valid ids end at 4294967294: (u32)-1 is the kernel's invalid id, and no request reaches it.
    if (e.last < e.first || e.first >= 0xffffffffn) continue;
    const end = e.last >= 0xffffffffn ? 4294967295 : Number(e.last) + 1;
    spans.push([Number(e.first), end]);
  }
  return mergeIntervals(spans);
}

export function mergeIntervals(spans: Array<[number, number]>): Array<[number, number]> {
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: Array<[number, number]> = [];
  for (const [s, e] of spans) {
    const prev = out[out.length - 1];
    if (prev && s <= prev[1]) prev[1] = Math.max(prev[1], e);
    else out.push([s, e]);
  }
  return out;
}
