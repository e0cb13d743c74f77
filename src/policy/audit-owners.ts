import { showRange } from '../idmap/index.js';
import type { FindingSink } from './finding.js';
import type { PreparedEntry } from './audit-lines.js';
import type { SubidFileKind } from './subid-db.js';

/**
 * Findings about owners and about entries taken together: overlaps between
 * owners (one sweep over entries sorted by start, O(n log n) even when
 * thousands of entries overlap), overlapping entries of one owner, owners
 * without an account, owners without a full 65536-id block, and owners whose
 * uid and gid ranges differ.
 */

export const CONTAINER_SIZE = 65536;

export function auditOwners(
  prepared: Record<SubidFileKind, PreparedEntry[]>,
  sink: FindingSink,
  present: Record<SubidFileKind, boolean>,
): void {
  const runs = {} as Record<SubidFileKind, Map<string, OwnerRuns>>;
  for (const kind of ['subuid', 'subgid'] as const) {
    const sorted = [...prepared[kind]].sort((a, b) => a.start - b.start || a.end - b.end || a.lineNo - b.lineNo);
    overlaps(kind, sorted, sink);
    unknownOwners(kind, prepared[kind], sink);
    runs[kind] = runsByOwner(sorted);
    tooSmall(kind, runs[kind], sink);
  }
  if (present.subuid && present.subgid) mismatches(runs, sink);
}

/** Entries sorted by start. */
function overlaps(kind: SubidFileKind, sorted: PreparedEntry[], sink: FindingSink): void {
  // The two entries reaching furthest so far whose owners differ: any entry overlapping an
  // earlier entry of another owner overlaps one of these two.
  let best: PreparedEntry | undefined;
  let second: PreparedEntry | undefined;
  const furthestByOwner = new Map<string, PreparedEntry>();
  for (const e of sorted) {
    const other = best && best.key !== e.key ? best : second;
    if (other && other.end > e.start) {
      const lo = e.start,
        hi = Math.min(e.end, other.end);
      const [a, b] = other.lineNo < e.lineNo ? [other, e] : [e, other];
      sink.add('error', 'overlap', () => ({
        file: kind,
        lines: [a.lineNo, b.lineNo],
        owner: `${a.owner},${b.owner}`,
        range: [lo, hi],
        message: `lines ${a.lineNo} and ${b.lineNo}: ${a.owner}'s ${showRange(a.start, a.end)} and ${b.owner}'s ${showRange(b.start, b.end)} overlap on ${showRange(lo, hi)} (${hi - lo} ids): both users can own the same files`,
        hint: "give each owner a disjoint range (shadow's useradd takes the lowest free hole; fsidmap alloc can choose one)",
      }));
    }
    const mine = furthestByOwner.get(e.key);
    if (mine && mine.end > e.start) {
      const hi = Math.min(e.end, mine.end);
      const [a, b] = mine.lineNo < e.lineNo ? [mine, e] : [e, mine];
      sink.add('warning', 'self-overlap', () => ({
        file: kind,
        lines: [a.lineNo, b.lineNo],
        owner: e.owner,
        range: [e.start, hi],
        message: `lines ${a.lineNo} and ${b.lineNo}: two entries of ${e.owner} overlap on ${showRange(e.start, hi)}`,
        hint: 'merge them into one line',
      }));
    }
    if (!mine || e.end > mine.end) furthestByOwner.set(e.key, e);
    if (!best || e.end > best.end) {
      if (!best || best.key !== e.key) second = best;
      best = e;
    } else if (best.key !== e.key && (!second || e.end > second.end)) {
      second = e;
    }
  }
}

function unknownOwners(kind: SubidFileKind, entries: PreparedEntry[], sink: FindingSink): void {
  const byOwner = new Map<string, number[]>();
  for (const e of entries) {
    if (e.known) continue;
    const lines = byOwner.get(e.owner);
    if (lines) lines.push(e.lineNo);
    else byOwner.set(e.owner, [e.lineNo]);
  }
  for (const [owner, lines] of byOwner) {
    const numeric = /^\d+$/.test(owner);
    const canonical = /^(0|[1-9]\d*)$/.test(owner);
    sink.add('warning', 'owner-unknown', () => ({
      file: kind,
      lines,
      owner,
      range: null,
      message:
        numeric && !canonical
          ? `owner "${owner}" (line${lines.length === 1 ? '' : 's'} ${lines.join(', ')}) is a uid with leading zeros: shadow compares it with the uid as text, so it matches no user`
          : `owner "${owner}" (line${lines.length === 1 ? '' : 's'} ${lines.join(', ')}) has no passwd entry${numeric ? ' with that uid' : ''}: the ranges are unused now and go to whoever is created with that ${numeric ? 'uid' : 'name'} later`,
      hint: 'delete the entries of removed users (userdel does this for their name), or create the account',
    }));
  }
}

/** An owner's entries joined where adjacent or overlapping (as have_range follows them): flat [start, end, start, end, …]. */
interface OwnerRuns {
  owner: string;
  lines: number[];
  runs: number[];
}

/** Entries sorted by start, so each owner's entries arrive in order and join on the fly. */
function runsByOwner(sorted: PreparedEntry[]): Map<string, OwnerRuns> {
  const out = new Map<string, OwnerRuns>();
  for (const e of sorted) {
    const o = out.get(e.key);
    if (!o) {
      out.set(e.key, { owner: e.owner, lines: [e.lineNo], runs: [e.start, e.end] });
      continue;
    }
    o.lines.push(e.lineNo);
    const last = o.runs.length - 1;
    if (e.start <= o.runs[last]) o.runs[last] = Math.max(o.runs[last], e.end);
    else o.runs.push(e.start, e.end);
  }
  return out;
}

function tooSmall(kind: SubidFileKind, runs: Map<string, OwnerRuns>, sink: FindingSink): void {
  for (const o of runs.values()) {
    let largest = 0;
    for (let i = 0; i < o.runs.length; i += 2) largest = Math.max(largest, o.runs[i + 1] - o.runs[i]);
    if (largest >= CONTAINER_SIZE) continue;
    sink.add('warning', 'too-small', () => ({
      file: kind,
      lines: [...o.lines].sort((a, b) => a - b),
      owner: o.owner,
      range: null,
      message: `${o.owner}'s largest contiguous ${kind} block has ${largest} ids, fewer than the ${CONTAINER_SIZE} a full container (ids 0–65535) needs`,
      hint: `give ${o.owner} a block of at least ${CONTAINER_SIZE} ids (usermod --add-sub${kind === 'subuid' ? 'uid' : 'gid'}s FIRST-LAST)`,
    }));
  }
}

function sameRuns(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function mismatches(runs: Record<SubidFileKind, Map<string, OwnerRuns>>, sink: FindingSink): void {
  const keys = new Set([...runs.subuid.keys(), ...runs.subgid.keys()]);
  // runs are flat [start, end, start, end, …]
  const show = (r: number[]) =>
    r
      .filter((_, i) => i % 2 === 0)
      .map((s, i) => showRange(s, r[2 * i + 1]))
      .join(', ');
  for (const key of keys) {
    const u = runs.subuid.get(key),
      g = runs.subgid.get(key);
    const owner = (u ?? g)!.owner;
    if (u && g && sameRuns(u.runs, g.runs)) continue;
    const message = () =>
      !g
        ? `${owner} has subordinate uids but no subordinate gids: newgidmap will refuse every range`
        : !u
          ? `${owner} has subordinate gids but no subordinate uids: newuidmap will refuse every range`
          : `${owner}'s subordinate uids ${show(u.runs)} differ from its subordinate gids ${show(g.runs)}; Podman, LXC and systemd map both with one layout`;
    sink.add('warning', 'uid-gid-mismatch', () => ({
      file: u ? 'subuid' : 'subgid',
      lines: [...(u ?? g)!.lines].sort((a, b) => a - b),
      ...(u && g ? { otherLines: [...g.lines].sort((a, b) => a - b) } : {}),
      owner,
      range: null,
      message: message(),
      hint: 'give the owner the same ranges in /etc/subuid and /etc/subgid',
    }));
  }
}
