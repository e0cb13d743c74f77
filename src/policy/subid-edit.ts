import { FsidmapError } from '../errors.js';
import { Accounts } from './accounts.js';
import { parseSubidDb, rawOf, type SubidDb } from './subid-db.js';
import { haveRange, ownerView } from './subid-owner.js';

/**
 * Changes to a subordinate-id file as shadow's add_range and remove_range
 * make them (lib/subordinateio.c, used by usermod --add-subuids and
 * --del-subuids), as new file text: every line not changed keeps its exact
 * bytes; a changed entry is written the way shadow writes one,
 * "owner:start:count\n"; new entries go at the end. Pure.
 */

export interface SubidEdit {
  readonly text: string;
  readonly changed: boolean;
  /** present: already covered, nothing written; appended: new line; extended: an adjacent line of the owner grew; removed: entries trimmed, split or deleted. */
  readonly action: 'present' | 'appended' | 'extended' | 'removed' | 'absent';
  /** Line numbers (in the old text) that were rewritten or deleted. */
  readonly touched: readonly number[];
}

const MOD = 1n << 64n;

export interface AddOptions {
  /** Resolve owners by uid as find_range does for /etc/subuid (pass the accounts to get shadow's exact "already present" test). */
  readonly accounts?: Accounts;
  /** Instead of appending, grow an entry of the same owner that ends exactly where the new range starts. */
  readonly join?: boolean;
}

/** add_range: nothing when the owner already has [start, start+count); otherwise a new "owner:start:count" line. */
export function addSubidRange(text: string, owner: string, start: bigint, count: bigint, options: AddOptions = {}): SubidEdit {
  checkOwner(owner);
  const db = parseSubidDb(text);
  if (!db.readable) throw unreadable();
  const view = options.accounts ? ownerView(db, owner, options.accounts) : ownerView(db, owner, emptyAccounts, { uidFallback: false });
  if (haveRange(view, start, count).ok) return { text, changed: false, action: 'present', touched: [] };
  if (options.join) {
    const idx = db.lines.findIndex(
      (l) => l.range && l.range.owner === owner && l.range.start + l.range.count === start && l.raw === undefined,
    );
    if (idx >= 0) {
      const r = db.lines[idx].range!;
      return rebuild(db, new Map([[idx, `${owner}:${r.start}:${r.count + count}\n`]]), [], 'extended');
    }
  }
  return rebuild(db, new Map(), [`${owner}:${start}:${count}\n`], 'appended');
}

/** remove_range: trims, splits or deletes the owner's entries (owner compared as text) so that none covers [start, start+count). */
export function removeSubidRange(text: string, owner: string, start: bigint, count: bigint): SubidEdit {
  checkOwner(owner);
  const db = parseSubidDb(text);
  if (!db.readable) throw unreadable();
  if (count === 0n) return { text, changed: false, action: 'absent', touched: [] };
  const end = (start + count - 1n) % MOD;
  const replaced = new Map<number, string>();
  const appended: string[] = [];
  db.lines.forEach((line, idx) => {
    const r = line.range;
    if (!r || r.owner !== owner) return;
    const first = r.start;
    const last = (((first + r.count - 1n) % MOD) + MOD) % MOD;
    if (end < first || start > last) return;
    if (start <= first) {
      if (end >= last) replaced.set(idx, '');
      else replaced.set(idx, `${owner}:${end + 1n}:${last - (end + 1n) + 1n}\n`);
    } else if (end >= last) {
      replaced.set(idx, `${owner}:${first}:${start - first}\n`);
    } else {
      appended.push(`${owner}:${end + 1n}:${last - (end + 1n) + 1n}\n`);
      replaced.set(idx, `${owner}:${first}:${start - first}\n`);
    }
  });
  if (replaced.size === 0) return { text, changed: false, action: 'absent', touched: [] };
  return rebuild(db, replaced, appended, 'removed');
}

function rebuild(db: SubidDb, replaced: Map<number, string>, appended: string[], action: SubidEdit['action']): SubidEdit {
  const parts: string[] = [];
  db.lines.forEach((line, idx) => parts.push(replaced.has(idx) ? replaced.get(idx)! : rawOf(line)));
  // shadow writes every kept line followed by a newline, so a last line without one gets one.
  for (let i = parts.length - 1; i >= 0; i--) {
    if (parts[i] === '') continue;
    if (!parts[i].endsWith('\n')) parts[i] += '\n';
    break;
  }
  parts.push(...appended);
  const touched = [...replaced.keys()].map((i) => db.lines[i].lineNo);
  return { text: parts.join(''), changed: true, action, touched };
}

function checkOwner(owner: string): void {
  if (owner === '' || /[:\n\0]/.test(owner)) {
    throw new FsidmapError(
      'ERR_SUBID_OWNER',
      `owner ${JSON.stringify(owner)} cannot be written to a subordinate-id file: it is empty or contains ':', a newline or NUL`,
      { hint: 'give a user name or a decimal uid', context: { owner } },
    );
  }
}

function unreadable(): FsidmapError {
  return new FsidmapError(
    'ERR_SUBID_UNREADABLE',
    'the file has a NUL byte in its newline-terminated last line, which shadow cannot read; nothing was changed',
    { hint: "remove the NUL bytes first (tr -d '\\000')" },
  );
}

const emptyAccounts = new Accounts([], []);
