import { showRange } from '../idmap/index.js';
import type { Accounts } from './accounts.js';
import type { SubidDb } from './subid-db.js';
import { ownedEntry } from './subid-owner.js';

/**
 * Who else holds an id: the words a refusal needs to say "id 165536 belongs
 * to bob's /etc/subuid line 4, not to you". Pure.
 */

export type IdHolder =
  | { readonly kind: 'subordinate'; readonly owner: string; readonly line: number; readonly range: [number, number] }
  | { readonly kind: 'user'; readonly name: string; readonly id: number }
  | { readonly kind: 'group'; readonly name: string; readonly id: number };

/** Every holder of `id`: subordinate entries containing it (shadow's arithmetic), and the passwd user or group with that id. */
export function holdersOf(id: number, idKind: 'uid' | 'gid', db: SubidDb | null, accounts: Accounts, limit = 5): IdHolder[] {
  const out: IdHolder[] = [];
  const v = BigInt(id);
  if (db) {
    for (const line of db.lines) {
      if (!line.range) continue;
      const e = ownedEntry(line, line.range);
      if (v >= e.first && v <= e.last) {
        const end = e.last >= 0xffffffffn ? 4294967295 : Number(e.last) + 1;
        out.push({ kind: 'subordinate', owner: line.range.owner, line: line.lineNo, range: [Number(e.first), end] });
        if (out.length >= limit) break;
      }
    }
  }
  const account = idKind === 'uid' ? accounts.getpwuid(id) : accounts.getgrgid(id);
  if (account) out.push({ kind: idKind === 'uid' ? 'user' : 'group', name: account.name, id });
  return out;
}

export function describeHolders(holders: readonly IdHolder[], file: string): string {
  if (holders.length === 0) return 'no one (it is in no subordinate range and no account has it)';
  return holders
    .map((h) =>
      h.kind === 'subordinate' ? `${h.owner} (${file} line ${h.line}, ${showRange(h.range[0], h.range[1])})` : `the ${h.kind} ${h.name}`,
    )
    .join(', ');
}

/** The first id of [start, end) outside the sorted, merged intervals, and the run of unowned ids it starts. */
export function firstUncovered(
  owned: ReadonlyArray<readonly [number, number]>,
  start: number,
  end: number,
): { id: number; run: [number, number] } | undefined {
  let at = start;
  for (const [s, e] of owned) {
    if (e <= at) continue;
    if (s > at) return { id: at, run: [at, Math.min(s, end)] };
    at = e;
    if (at >= end) return undefined;
  }
  return at < end ? { id: at, run: [at, end] } : undefined;
}

export function showIntervals(spans: ReadonlyArray<readonly [number, number]>, max = 6): string {
  if (spans.length === 0) return 'none';
  const shown = spans.slice(0, max).map(([s, e]) => showRange(s, e));
  return shown.join(', ') + (spans.length > max ? ` and ${spans.length - max} more` : '');
}
