import { showRange } from '../idmap/index.js';
import type { Accounts } from './accounts.js';
import type { FindingSink, Finding } from './finding.js';
import { describeNotation, isCanonical } from './shadow-number.js';
import { describeSkip, type SubidDb, type SubidFileKind, type SubidLine } from './subid-db.js';

/**
 * Line-by-line audit findings, and the entries prepared for the per-owner
 * checks: each usable entry becomes a half-open interval of valid ids
 * (0..4294967294) with its owner resolved the way find_range resolves it.
 */

export interface PreparedEntry {
  readonly lineNo: number;
  readonly owner: string;
  /** Owner identity: "u:<uid>" when the owner resolves to a uid (by name or as a decimal uid), else "n:<name>". */
  readonly key: string;
  /** The passwd entry's uid, when the owner has one. */
  readonly uid: number | undefined;
  readonly known: boolean;
  readonly start: number;
  readonly end: number;
}

/** One past the last valid id: (u32)-1 is the kernel's invalid id. */
export const ID_LIMIT = 4294967295;
export const FOREIGN_RANGE: readonly [number, number] = [0x7ffe0000, 0x7fff0000];
export const HIGH_START = 2 ** 31;
const OVERFLOW_ID = 65534;

type Resolved = { key: string; uid: number | undefined; known: boolean };

export function resolveOwner(owner: string, accounts: Accounts): Resolved {
  const byName = accounts.getpwnam(owner);
  if (byName) return { key: `u:${byName.uid}`, uid: byName.uid, known: true };
  // find_range compares the owner with the uid printed as "%lu": only the canonical spelling matches.
  if (/^(0|[1-9]\d*)$/.test(owner) && Number(owner) < ID_LIMIT) {
    const uid = Number(owner);
    const pw = accounts.getpwuid(uid);
    return { key: `u:${uid}`, uid: pw ? uid : undefined, known: pw !== undefined };
  }
  return { key: `n:${owner}`, uid: undefined, known: false };
}

export function auditLines(kind: SubidFileKind, db: SubidDb, accounts: Accounts, sink: FindingSink): PreparedEntry[] {
  const idKind = kind === 'subuid' ? 'uid' : 'gid';
  const realIds = kind === 'subuid' ? userIds(accounts) : groupIds(accounts);
  const cache = new Map<string, Resolved>();
  const out: PreparedEntry[] = [];
  const add: Add = (line, severity, code, message, hint, range = null, owner = null) =>
    sink.add(severity, code, () => ({
      file: kind,
      lines: [line.lineNo],
      owner,
      range,
      message: `line ${line.lineNo}: ${typeof message === 'function' ? message() : message}`,
      hint,
    }));

  for (const line of db.lines) {
    const r = line.range;
    if (!r) {
      unparsed(line, add);
      continue;
    }
    const owner = r.owner;
    if (owner[0] === '#') {
      add(
        line,
        'info',
        'comment-entry',
        `shadow has no comment syntax: "${line.text}" is an entry for an owner named "${owner}"`,
        'harmless while no account has that name; delete the line to be sure',
        null,
        owner,
      );
      continue;
    }
    if (line.startNumber || line.countNumber) {
      const fields = line.text.split(':');
      for (const [which, num, text] of [
        ['start', line.startNumber, fields[1]],
        ['count', line.countNumber, fields[2]],
      ] as const) {
        if (num && !isCanonical(num)) {
          add(
            line,
            'warning',
            'number-notation',
            `the ${which} ${describeNotation(text, num)}`,
            `write the ${which} as a plain decimal number (shadow writes "%lu")`,
            null,
            owner,
          );
        }
      }
    }
    if (line.extra !== undefined) {
      add(
        line,
        'warning',
        'extra-fields',
        `has more than three fields; shadow ignores ":${line.extra}"`,
        'remove everything after owner:start:count',
        null,
        owner,
      );
    }
    let start: number, end: number;
    const s0 = Number(r.start),
      c0 = Number(r.count);
    if (s0 < ID_LIMIT && c0 > 0 && s0 + c0 <= ID_LIMIT) {
      // The usual entry: inside the id space, no 64-bit arithmetic needed.
      start = s0;
      end = s0 + c0;
    } else if (r.start === 0n && r.count === 0n) {
      add(
        line,
        'error',
        'grants-all',
        `"${line.text}" has start 0 and count 0: shadow computes its last id as 0 + 0 - 1 = ULONG_MAX, so newuidmap lets ${owner} map every ${idKind}, root included`,
        'delete the line or give it a real count',
        [0, ID_LIMIT],
        owner,
      );
      start = 0;
      end = ID_LIMIT;
    } else {
      const last = (r.start + r.count - 1n) % (1n << 64n);
      if (r.count === 0n || last < r.start) {
        add(
          line,
          'warning',
          'empty-range',
          r.count === 0n
            ? 'has count 0 and grants nothing'
            : `start + count wraps past 2^64 in shadow's arithmetic; the entry grants nothing`,
          'delete the line or fix the count',
          null,
          owner,
        );
        continue;
      }
      if (r.start >= BigInt(ID_LIMIT)) {
        add(
          line,
          'warning',
          'beyond-id-space',
          `starts at ${r.start}, beyond the last valid id 4294967294; the entry grants nothing usable`,
          'delete the line',
          null,
          owner,
        );
        continue;
      }
      start = Number(r.start);
      end = ID_LIMIT;
      add(
        line,
        'warning',
        'beyond-id-space',
        `runs past the last valid id 4294967294 (start ${r.start}, count ${r.count})`,
        `use a count of at most ${ID_LIMIT - start}`,
        [start, ID_LIMIT],
        owner,
      );
    }
    let res = cache.get(owner);
    if (!res) {
      res = resolveOwner(owner, accounts);
      cache.set(owner, res);
    }
    coverage(line, owner, res, start, end, kind, realIds, accounts, add);
    out.push({ lineNo: line.lineNo, owner, key: res.key, uid: res.uid, known: res.known, start, end });
  }
  return out;
}

/** A line finding; the message may be a function, built only if the finding is listed. */
type Add = (
  line: SubidLine,
  severity: Finding['severity'],
  code: Finding['code'],
  message: string | (() => string),
  hint: string,
  range?: readonly [number, number] | null,
  owner?: string | null,
) => void;

function unparsed(line: SubidLine, add: Add): void {
  const t = line.text;
  if (t.trim() === '') add(line, 'info', 'blank-line', 'is blank; shadow keeps it and ignores it', 'nothing to do');
  else if (t.trimStart()[0] === '#')
    add(
      line,
      'info',
      'comment-line',
      'looks like a comment; shadow keeps it and ignores it only because it does not parse',
      'nothing to do, but note that "#name:1:2" would parse as an entry',
    );
  else if (line.skip === 'nis')
    add(line, 'warning', 'nis-line', describeSkip(line), 'if this line was meant to grant ids, remove the leading character');
  else {
    const trailing = /[\s]$/.test(t) ? ' (it ends in whitespace or a carriage return, which shadow refuses after a number)' : '';
    add(
      line,
      'warning',
      'unparsable-line',
      `${describeSkip(line)}${trailing}; shadow keeps the line but it grants nothing`,
      trailing ? 'remove trailing blanks and use Unix line endings' : 'fix it to owner:start:count with decimal numbers, or delete it',
    );
  }
}

function coverage(
  line: SubidLine,
  owner: string,
  res: Resolved,
  start: number,
  end: number,
  kind: SubidFileKind,
  realIds: RealIds,
  accounts: Accounts,
  add: Add,
): void {
  const idKind = kind === 'subuid' ? 'uid' : 'gid';
  const range = [start, end] as const;
  if (start === 0) {
    add(
      line,
      'error',
      'covers-root',
      () => `${owner}'s range ${showRange(start, end)} includes ${idKind} 0: inside a namespace ${owner} can own files as root`,
      'move the range above the ids of real accounts (shadow allocates from 100000)',
      range,
      owner,
    );
  }
  if (start <= OVERFLOW_ID && OVERFLOW_ID < end) {
    add(
      line,
      'warning',
      'covers-overflow-id',
      () =>
        `${owner}'s range ${showRange(start, end)} includes the overflow id 65534 (nobody/nogroup), which the kernel shows for every unmapped owner`,
      'move the range above 65535',
      range,
      owner,
    );
  }
  if (start < FOREIGN_RANGE[1] && FOREIGN_RANGE[0] < end) {
    add(
      line,
      'error',
      'foreign-range',
      () =>
        `${owner}'s range ${showRange(start, end)} reaches into systemd's foreign range 2147352576–2147418111 (0x7FFE0000–0x7FFEFFFF): ${owner} could own every foreign-owned image`,
      'keep subordinate ranges below 2147352576 (systemd container ranges end at 1879048191)',
      range,
      owner,
    );
  }
  if (end > HIGH_START) {
    add(
      line,
      'warning',
      'high-range',
      () =>
        `${owner}'s range ${showRange(start, end)} reaches ${idKind}s at or above 2^31, which systemd advises against (signed-id bugs in devpts, setfsuid and elsewhere)`,
      'keep subordinate ranges below 2147483648',
      range,
      owner,
    );
  }
  // Real accounts inside the range (0 and 65534 have their own findings).
  if (!anyIdIn(realIds.ids, start, end)) return;
  const hits = idsIn(realIds.ids, start, end).filter((id) => id !== 0 && id !== OVERFLOW_ID);
  if (hits.length === 0) return;
  const ownId = idKind === 'uid' ? res.uid : res.uid === undefined ? undefined : accounts.getpwuid(res.uid)?.gid;
  const others = hits.filter((id) => id !== ownId);
  if (ownId !== undefined && hits.includes(ownId)) {
    add(
      line,
      'warning',
      'covers-own-id',
      () =>
        `${owner}'s range ${showRange(start, end)} includes ${owner}'s own ${idKind} ${ownId}: runtimes that map the own ${idKind} and the subordinate range together get EINVAL (overlapping lower ranges)`,
      "move the range away from the owner's own id",
      range,
      owner,
    );
  }
  if (others.length > 0) {
    const shown = others
      .slice(0, 8)
      .map((id) => `${realIds.names(id)} (${id})`)
      .join(', ');
    add(
      line,
      'error',
      kind === 'subuid' ? 'covers-user' : 'covers-group',
      `${owner}'s range ${showRange(start, end)} includes ${others.length} real ${kind === 'subuid' ? 'user' : 'group'} id${others.length === 1 ? '' : 's'}: ${shown}${others.length > 8 ? ', …' : ''}; inside a namespace ${owner} can own their files`,
      'move the range above every account id (shadow allocates from SUB_UID_MIN, 100000)',
      range,
      owner,
    );
  }
}

interface RealIds {
  ids: Uint32Array | number[];
  names: (id: number) => string;
}

const userCache = new WeakMap<Accounts, RealIds>();
const groupCache = new WeakMap<Accounts, RealIds>();

function userIds(a: Accounts): RealIds {
  let v = userCache.get(a);
  if (!v) {
    v = { ids: a.userIds(), names: (id) => a.getpwuid(id)?.name ?? '?' };
    userCache.set(a, v);
  }
  return v;
}

/** Group ids with a group line, and primary gids of users even without one. */
function groupIds(a: Accounts): RealIds {
  let v = groupCache.get(a);
  if (!v) {
    const ids = [...new Set([...a.groupIds(), ...a.users.map((u) => u.gid)])].sort((x, y) => x - y);
    v = { ids, names: (id) => a.getgrgid(id)?.name ?? `primary group of ${a.users.find((u) => u.gid === id)?.name ?? '?'}` };
    groupCache.set(a, v);
  }
  return v;
}

function lowerBound(sorted: ArrayLike<number>, start: number): number {
  let lo = 0,
    hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < start) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function anyIdIn(sorted: ArrayLike<number>, start: number, end: number): boolean {
  const i = lowerBound(sorted, start);
  return i < sorted.length && sorted[i] < end;
}

function idsIn(sorted: ArrayLike<number>, start: number, end: number): number[] {
  const lo = lowerBound(sorted, start);
  const out: number[] = [];
  for (let i = lo; i < sorted.length && sorted[i] < end; i++) out.push(sorted[i]);
  return out;
}
