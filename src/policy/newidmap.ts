import { checkMapWrite, IdMap, type MapWriteVerdict, showRange } from '../idmap/index.js';
import type { Accounts, PasswdEntry } from './accounts.js';
import { firstUncovered, holdersOf, describeHolders, showIntervals } from './id-owners.js';
import { type MapRange, mappingText, parseMapArgs } from './map-args.js';
import type { SubidDb } from './subid-db.js';
import { haveRange, ownedIntervals, ownerView } from './subid-owner.js';

/**
 * What newuidmap and newgidmap (shadow-utils 4.13, Debian's uidmap package)
 * decide for a caller, step by step as their main() runs, followed by the
 * kernel's verdict on the write they then make (map_write through
 * checkMapWrite; the binaries hold CAP_SETUID/CAP_SETGID and keep
 * CAP_SETFCAP when a range starts at 0, so the kernel applies its parse
 * rules, not the unprivileged single-id rule). Pure.
 */

export type NewIdmapTool = 'newuidmap' | 'newgidmap';

export interface NewIdmapInput {
  readonly tool: NewIdmapTool;
  /** The arguments after the pid, exactly as the binary receives them. */
  readonly args: readonly string[];
  /** The caller's real uid and real gid; loginName is what getlogin() returns, if anything. */
  readonly caller: { readonly uid: number; readonly gid: number; readonly loginName?: string };
  /** The owner of /proc/PID (the target's euid and egid). Default: the caller's uid and gid. */
  readonly target?: { readonly uid: number; readonly gid: number };
  readonly accounts: Accounts;
  /** /etc/subuid for newuidmap, /etc/subgid for newgidmap; null when the file is missing or cannot be opened. */
  readonly subids: SubidDb | null;
  /** login.defs GRANT_AUX_GROUP_SUBIDS: drops the "real gid is the passwd gid" requirement. */
  readonly grantAuxGroupSubids?: boolean;
  /** See OwnerOptions.uidFallback (default true). */
  readonly uidFallback?: boolean;
  /** The target namespace's /proc/PID/setgroups (default allow) and whether its map was already written. */
  readonly setgroups?: 'allow' | 'deny';
  readonly alreadyWritten?: boolean;
  /** Only used to fill in messages. */
  readonly pid?: number;
}

export type NewIdmapStage = 'caller' | 'target' | 'subid-file' | 'arguments' | 'ranges' | 'setgroups' | 'kernel';

export interface RangeGrant {
  readonly upper: number;
  readonly lower: number;
  readonly count: number;
  /** How verify_range accepted it: through subordinate entries, or as the caller's own id; null if refused. */
  readonly via: 'subordinate' | 'own-id' | null;
  /** Subordinate-file line numbers the coverage walk used. */
  readonly lines: readonly number[];
}

export interface NewIdmapDecision {
  readonly tool: NewIdmapTool;
  readonly allowed: boolean;
  /** Where it stopped; null when allowed. */
  readonly stage: NewIdmapStage | null;
  readonly rule: string | null;
  readonly message: string | null;
  readonly hint: string | null;
  /** What the binary prints on stderr for this refusal ("" when it exits silently). */
  readonly stderr: string | null;
  readonly user: PasswdEntry | null;
  readonly ranges: readonly RangeGrant[];
  /** newgidmap: "deny" when it writes deny to /proc/PID/setgroups, "unchanged" when it leaves it; null otherwise. */
  readonly setgroups: 'deny' | 'unchanged' | null;
  /** The bytes written to uid_map/gid_map, when the binary gets that far. */
  readonly write: string | null;
  readonly kernel: MapWriteVerdict | null;
  /** The map the kernel installs (lower column in kernel ids) when allowed. */
  readonly installed: IdMap | null;
}

const ERRNO_TEXT = { EINVAL: 'Invalid argument', EPERM: 'Operation not permitted' } as const;

export function decideNewIdmap(input: NewIdmapInput): NewIdmapDecision {
  const { tool, accounts } = input;
  const idKind = tool === 'newuidmap' ? 'uid' : 'gid';
  const file = `/etc/sub${idKind}`;
  const pid = input.pid === undefined ? 'PID' : String(input.pid);
  let result: Omit<NewIdmapDecision, 'allowed' | 'stage' | 'rule' | 'message' | 'hint' | 'stderr'> = {
    tool,
    user: null,
    ranges: [],
    setgroups: null,
    write: null,
    kernel: null,
    installed: null,
  };
  const refuse = (stage: NewIdmapStage, rule: string, message: string, hint: string, stderr: string): NewIdmapDecision => ({
    ...result,
    allowed: false,
    stage,
    rule,
    message,
    hint,
    stderr,
  });

  // get_my_pwent: getlogin()'s name if its uid is the real uid, else getpwuid(getuid()).
  const { caller } = input;
  const byLogin = caller.loginName === undefined ? undefined : accounts.getpwnam(caller.loginName);
  const pw = byLogin && byLogin.uid === caller.uid ? byLogin : accounts.getpwuid(caller.uid);
  if (!pw) {
    return refuse(
      'caller',
      'unknown-caller',
      `uid ${caller.uid} has no passwd entry`,
      'newuidmap only works for users listed in /etc/passwd (or another passwd source)',
      `${tool}: Cannot determine your user name.`,
    );
  }
  result = { ...result, user: pw };

  const target = input.target ?? { uid: caller.uid, gid: caller.gid };
  const wrongGid = !input.grantAuxGroupSubids && caller.gid !== pw.gid;
  if (wrongGid || pw.uid !== target.uid || caller.gid !== target.gid) {
    const why = wrongGid
      ? `the real gid ${caller.gid} is not ${pw.name}'s passwd gid ${pw.gid} (GRANT_AUX_GROUP_SUBIDS is off)`
      : pw.uid !== target.uid
        ? `the target process belongs to uid ${target.uid}, not to ${pw.name} (uid ${pw.uid})`
        : `the target process's gid ${target.gid} is not the caller's real gid ${caller.gid}`;
    const what = tool === 'newuidmap' ? `Target process ${pid}` : `Target ${pid}`;
    return refuse(
      'target',
      'target-owner',
      why,
      'run the target (the process that unshared the user namespace) as yourself, with your primary group, and call newuidmap with the same real uid and gid',
      `${tool}: ${what} is owned by a different user: uid:${caller.uid} pw_uid:${pw.uid} st_uid:${target.uid}, gid:${caller.gid} pw_gid:${pw.gid} st_gid:${target.gid}`,
    );
  }

  const db = input.subids;
  if (!db || !db.readable) {
    return refuse(
      'subid-file',
      'subid-unreadable',
      `${file} ${db ? 'cannot be read by shadow (a NUL byte in its last line)' : 'is missing or cannot be opened'}`,
      `${tool} exits 1 without a message when it cannot open ${file} (it also refuses a symlink): create it as a regular file`,
      '',
    );
  }

  const parsed = parseMapArgs(input.args, tool);
  if (!parsed.ok) {
    return refuse(
      'arguments',
      parsed.rule,
      parsed.message,
      parsed.rule === 'overflow'
        ? 'each mapping must end at or below 4294967295 in both columns'
        : 'give mappings as three numbers each: first id inside, first id outside, count',
      parsed.stderr,
    );
  }

  const view = ownerView(db, pw.name, accounts, input.uidFallback === undefined ? {} : { uidFallback: input.uidFallback });
  const ownId = idKind === 'uid' ? pw.uid : caller.gid;
  let allowSetgroups = false;
  const grants: RangeGrant[] = [];
  for (const r of parsed.ranges) {
    const base = { upper: Number(r.upper), lower: Number(r.lower), count: Number(r.count) };
    const have = haveRange(view, r.lower, r.count);
    if (have.ok) {
      allowSetgroups = true;
      grants.push({ ...base, via: 'subordinate', lines: have.used.map((e) => e.line.lineNo) });
      continue;
    }
    if (r.count === 1n && r.lower === BigInt(ownId)) {
      grants.push({ ...base, via: 'own-id', lines: [] });
      continue;
    }
    grants.push({ ...base, via: null, lines: [] });
    result = { ...result, ranges: grants };
    return refuse(
      'ranges',
      r.count === 0n ? 'count-zero' : 'not-allowed',
      notAllowedWhy(r, view, idKind, ownId, db, accounts, file),
      r.count === 0n
        ? 'a mapping must cover at least one id'
        : `map only ids inside your ${file} ranges (adjacent lines join), or your own ${idKind} ${ownId} with count 1; an administrator adds ranges with usermod --add-sub${idKind}s`,
      `${tool}: ${idKind} range [${r.upper}-${r.upper + r.count}) -> [${r.lower}-${r.lower + r.count}) not allowed`,
    );
  }
  result = { ...result, ranges: grants };

  if (tool === 'newgidmap') {
    // write_setgroups: nothing when a range came from /etc/subgid; else "deny" unless it already is.
    if (allowSetgroups || (input.setgroups ?? 'allow') === 'deny') {
      result = { ...result, setgroups: 'unchanged' };
    } else if (input.alreadyWritten) {
      return refuse(
        'setgroups',
        'setgroups-after-gid-map',
        'setgroups cannot be set to deny after gid_map was written',
        'use a fresh user namespace',
        `${tool}: failed to setgroups deny\n policy: Operation not permitted`,
      );
    } else {
      result = { ...result, setgroups: 'deny' };
    }
  }

  const write = mappingText(parsed.ranges);
  const kernel = checkMapWrite(Buffer.from(write, 'latin1'), {
    kind: idKind,
    parent: IdMap.identity(),
    writer: { privileged: true, capSetfcap: true },
    alreadyWritten: input.alreadyWritten === true,
  });
  result = { ...result, write, kernel, installed: kernel.installed };
  if (!kernel.ok) {
    return refuse(
      'kernel',
      kernel.rule ?? 'kernel',
      `the kernel refuses the ${idKind}_map write with ${kernel.errno}${kernel.line === null ? '' : ` at line ${kernel.line}`}: ${kernel.message}`,
      kernel.hint ?? '',
      `${tool}: write to ${idKind}_map failed: ${ERRNO_TEXT[kernel.errno ?? 'EINVAL']}`,
    );
  }
  return { ...result, allowed: true, stage: null, rule: null, message: null, hint: null, stderr: null };
}

function notAllowedWhy(
  r: MapRange,
  view: ReturnType<typeof ownerView>,
  idKind: 'uid' | 'gid',
  ownId: number,
  db: SubidDb,
  accounts: Accounts,
  file: string,
): string {
  const lower = Number(r.lower),
    end = lower + Number(r.count);
  if (r.count === 0n) return `mapping ${r.upper} ${r.lower} 0 has count 0`;
  const owned = ownedIntervals(view);
  const gap = firstUncovered(owned, lower, end);
  const mine = `${view.name}'s ${file} ranges are ${showIntervals(owned)}`;
  if (!gap) return `lower ids ${showRange(lower, end)} are not covered by ${view.name}'s entries`;
  const ownNote = gap.id === ownId ? ` (it is your own ${idKind}, which may only be mapped alone, with count 1)` : '';
  return (
    `lower ${idKind} ${gap.id}${ownNote} is not yours: the request needs ${showRange(lower, end)}, of which ${showRange(gap.run[0], gap.run[1])} ${gap.run[1] - gap.run[0] === 1 ? 'is' : 'are'} outside your ranges; ` +
    `${gap.id} is held by ${describeHolders(holdersOf(gap.id, idKind, db, accounts), file)}; ${mine}`
  );
}
