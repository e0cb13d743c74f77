import { checkMapWrite, IdMap, type MapWriteVerdict, showRange } from '../idmap/index.js';
import type { Accounts, PasswdEntry } from './accounts.js';
import { describeHolders, firstUncovered, holdersOf, type IdHolder, showIntervals } from './id-owners.js';
import { mappingText, parseMapArgs } from './map-args.js';
import type { SubidDb } from './subid-db.js';
import { mergeIntervals, ownedIntervals, ownerView } from './subid-owner.js';

/**
 * The fsid-map policy the seed thread proposes for a setuid
 * "newfsuidmap/newfsgidmap": a user may write an fsuid_map (fsgid_map) whose
 * every lower id is one they own — their own uid (for fsgid maps, their real
 * gid), or an id inside their /etc/subuid (/etc/subgid) ranges, adjacent
 * entries joined exactly as newuidmap joins them — and which the kernel's
 * map_write rules accept. Unlike newuidmap there is no "own id only with
 * count 1" special case: ownership is per id, so the own uid may sit next to
 * owned subordinate ids in one line, and any owned id may be every
 * namespace's fsid 0. Arguments are taken as newfsuidmap would take them:
 * newuidmap's triples, parsed by the same rules. Pure.
 */

export type FsidKind = 'fsuid' | 'fsgid';

export interface FsidMapInput {
  readonly kind: FsidKind;
  /** newuidmap-style arguments: upper lower count, repeated. */
  readonly args: readonly string[];
  readonly user: PasswdEntry;
  /** The real gid whose ownership an fsgid map may use (default the passwd gid). */
  readonly gid?: number;
  readonly accounts: Accounts;
  /** /etc/subuid for fsuid maps, /etc/subgid for fsgid maps; null when there is none (the own id still counts). */
  readonly subids: SubidDb | null;
  readonly uidFallback?: boolean;
}

export interface FsidRefusal {
  /** 1-based mapping (argument triple) at fault. */
  readonly mapping: number;
  /** The first lower id the user does not own. */
  readonly id: number;
  /** The lower range the mapping needs, half-open. */
  readonly needed: [number, number];
  /** The run of unowned ids starting at `id`, inside `needed`. */
  readonly missing: [number, number];
  /** Who holds `id` instead. */
  readonly holders: readonly IdHolder[];
}

export interface FsidMapDecision {
  readonly kind: FsidKind;
  readonly allowed: boolean;
  readonly stage: 'arguments' | 'ownership' | 'kernel' | null;
  readonly rule: string | null;
  readonly message: string | null;
  readonly hint: string | null;
  /** The ids the user owns for this map, merged half-open intervals. */
  readonly owned: ReadonlyArray<readonly [number, number]>;
  readonly refusal: FsidRefusal | null;
  readonly write: string | null;
  readonly kernel: MapWriteVerdict | null;
  readonly installed: IdMap | null;
}

export function decideFsidMap(input: FsidMapInput): FsidMapDecision {
  const { kind, user, accounts } = input;
  const idKind = kind === 'fsuid' ? 'uid' : 'gid';
  const file = `/etc/sub${idKind}`;
  const ownId = idKind === 'uid' ? user.uid : (input.gid ?? user.gid);
  const view = input.subids
    ? ownerView(input.subids, user.name, accounts, input.uidFallback === undefined ? {} : { uidFallback: input.uidFallback })
    : null;
  const owned = mergeIntervals([...(view ? ownedIntervals(view) : []), [ownId, ownId + 1]]);
  const base = { kind, owned, refusal: null, write: null, kernel: null, installed: null };
  const refuse = (
    stage: 'arguments' | 'ownership' | 'kernel',
    rule: string,
    message: string,
    hint: string,
    extra: Partial<FsidMapDecision> = {},
  ): FsidMapDecision => ({ ...base, ...extra, allowed: false, stage, rule, message, hint });

  const parsed = parseMapArgs(input.args, kind === 'fsuid' ? 'newuidmap' : 'newgidmap');
  if (!parsed.ok) {
    return refuse(
      'arguments',
      parsed.rule,
      parsed.message,
      'give mappings as three numbers each: first id inside, first id outside (on disk), count',
    );
  }
  for (let i = 0; i < parsed.ranges.length; i++) {
    const r = parsed.ranges[i];
    const lower = Number(r.lower),
      count = Number(r.count);
    if (count === 0) return refuse('ownership', 'count-zero', `mapping ${i + 1} has count 0`, 'a mapping must cover at least one id');
    const gap = firstUncovered(owned, lower, lower + count);
    if (gap) {
      const holders = holdersOf(gap.id, idKind, input.subids, accounts);
      const refusal: FsidRefusal = { mapping: i + 1, id: gap.id, needed: [lower, lower + count], missing: gap.run, holders };
      return refuse(
        'ownership',
        'not-owned',
        `mapping ${i + 1} (${r.upper} ${r.lower} ${r.count}): lower ${idKind} ${gap.id} is not ${user.name}'s; the mapping needs ${showRange(lower, lower + count)}, of which ` +
          `${showRange(gap.run[0], gap.run[1])} ${gap.run[1] - gap.run[0] === 1 ? 'is' : 'are'} not ${user.name}'s; ${gap.id} belongs to ${describeHolders(holders, file)}. ${user.name} owns ${showIntervals(owned)}`,
        `an ${kind} map may use only ids you own: your ${idKind} ${ownId} and your ${file} ranges`,
        { refusal },
      );
    }
  }
  const write = mappingText(parsed.ranges);
  const kernel = checkMapWrite(Buffer.from(write, 'latin1'), {
    kind: idKind,
    parent: IdMap.identity(),
    writer: { privileged: true, capSetfcap: true },
  });
  if (!kernel.ok) {
    return refuse(
      'kernel',
      kernel.rule ?? 'kernel',
      `the kernel would refuse this ${kind}_map with ${kernel.errno}${kernel.line === null ? '' : ` at line ${kernel.line}`}: ${kernel.message}`,
      kernel.hint ?? '',
      { write, kernel },
    );
  }
  return { ...base, allowed: true, stage: null, rule: null, message: null, hint: null, write, kernel, installed: kernel.installed };
}
