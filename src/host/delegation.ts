import { FsidmapError } from '../errors.js';
import { formatCompact } from '../idmap/index.js';
import type { Accounts, PasswdEntry } from '../policy/accounts.js';
import { auditSubids, type AuditReport } from '../policy/audit.js';
import { decideFsidMap, type FsidMapDecision } from '../policy/fsid-policy.js';
import { getdefBool } from '../policy/login-defs.js';
import { decideNewIdmap, type NewIdmapDecision } from '../policy/newidmap.js';
import { ownedIntervals, ownerView } from '../policy/subid-owner.js';
import { readAccounts, readLoginDefs } from './accounts-file.js';
import { type HostPaths, hostPaths } from './paths.js';
import { readSubidFile, shadowView, type SubidFileRead } from './subid-file.js';

/**
 * The two questions `fsidmap subid` answers, as library calls: may this user
 * install these maps (checkDelegation), and what is wrong with the files
 * (auditHost). Each reads the files once, then asks the pure policy.
 */

export interface Delegation {
  readonly paths: HostPaths;
  readonly accounts: Accounts;
  readonly subuid: SubidFileRead;
  readonly subgid: SubidFileRead;
  readonly grantAuxGroupSubids: boolean;
}

export function loadDelegation(paths: HostPaths, explicit: Partial<Record<keyof HostPaths, boolean>> = {}): Delegation {
  const accounts = readAccounts(paths, { passwd: { missingOk: false }, group: { missingOk: !explicit.group } });
  const read = (which: 'subuid' | 'subgid') => {
    const r = readSubidFile(paths[which]);
    if (r.state === 'missing' && explicit[which]) {
      throw new FsidmapError('ERR_HOST_READ', `cannot read ${paths[which]}: no such file`, {
        hint: `check the path given with --${which}`,
        context: { path: paths[which] },
      });
    }
    return r;
  };
  return {
    paths,
    accounts,
    subuid: read('subuid'),
    subgid: read('subgid'),
    grantAuxGroupSubids: getdefBool(readLoginDefs(paths.loginDefs), 'GRANT_AUX_GROUP_SUBIDS'),
  };
}

export type MapKindName = 'uid' | 'gid' | 'fsuid' | 'fsgid';

export interface CheckRequest {
  /** A user name or a decimal uid. */
  readonly user: string;
  /** newuidmap-style arguments per map (upper lower count ...), for the maps to check. */
  readonly maps: Partial<Record<MapKindName, readonly string[]>>;
  /** The caller's real gid (default: the passwd gid). */
  readonly gid?: number;
  readonly paths?: Partial<HostPaths>;
}

export interface MapCheck {
  readonly kind: MapKindName;
  readonly allowed: boolean;
  readonly stage: string | null;
  readonly rule: string | null;
  readonly message: string | null;
  readonly hint: string | null;
  /** What would be written to the map file, one "first lower count" line per mapping. */
  readonly write: string | null;
  /** The installed map as the kernel prints it from the initial namespace, when allowed. */
  readonly installed: string | null;
  /** The policy's full answer (null when there is no account to ask about). */
  readonly decision: NewIdmapDecision | FsidMapDecision | null;
}

export interface CheckReport {
  readonly user: PasswdEntry | null;
  readonly uid: number;
  /** The real gid used for newgidmap's own-gid rule and the fsgid policy. */
  readonly gid: number;
  /** What the user owns through each file (adjacent entries joined), as newuidmap and the fsid policy see it. */
  readonly owned: { readonly subuid: ReadonlyArray<readonly [number, number]>; readonly subgid: ReadonlyArray<readonly [number, number]> };
  readonly allowed: boolean;
  readonly maps: readonly MapCheck[];
  readonly paths: HostPaths;
}

/** The host's files with the paths a request names: a named file that is missing is an error, a default one is not. */
function loadRequested(given: Partial<HostPaths>): { paths: HostPaths; delegation: Delegation } {
  const explicit = Object.fromEntries(
    Object.entries(given)
      .filter(([, v]) => v !== undefined)
      .map(([k]) => [k, true]),
  );
  const paths = hostPaths(given);
  return { paths, delegation: loadDelegation(paths, explicit) };
}

export function checkDelegation(req: CheckRequest): CheckReport {
  const { paths, delegation: d } = loadRequested(req.paths ?? {});
  const user = d.accounts.findUser(req.user);
  const numeric = /^\d+$/.test(req.user) && Number(req.user) < 4294967295;
  if (!user && !numeric) {
    throw new FsidmapError('ERR_SUBID_UNKNOWN_USER', `user "${req.user}" is not in ${paths.passwd}`, {
      hint: 'give an existing user name or a uid (a uid without a passwd entry is checked as newuidmap would: refused)',
      context: { user: req.user },
    });
  }
  const uid = user ? user.uid : Number(req.user);
  const caller = { uid, gid: req.gid ?? user?.gid ?? uid };
  const maps: MapCheck[] = [];
  for (const kind of ['uid', 'gid', 'fsuid', 'fsgid'] as const) {
    const args = req.maps[kind];
    if (args === undefined) continue;
    if (kind === 'uid' || kind === 'gid') {
      const dec = decideNewIdmap({
        tool: kind === 'uid' ? 'newuidmap' : 'newgidmap',
        args,
        caller,
        accounts: d.accounts,
        subids: shadowView(kind === 'uid' ? d.subuid : d.subgid),
        grantAuxGroupSubids: d.grantAuxGroupSubids,
      });
      maps.push(summarize(kind, dec));
    } else if (!user) {
      maps.push({
        kind,
        allowed: false,
        stage: 'caller',
        rule: 'unknown-caller',
        message: `uid ${uid} has no passwd entry, so it owns no subordinate ids`,
        hint: 'create the account first',
        write: null,
        installed: null,
        decision: null,
      });
    } else {
      const dec = decideFsidMap({
        kind,
        args,
        user,
        gid: caller.gid,
        accounts: d.accounts,
        subids: (kind === 'fsuid' ? d.subuid : d.subgid).db,
      });
      maps.push(summarize(kind, dec));
    }
  }
  const owned = (r: SubidFileRead) => (user && r.db ? ownedIntervals(ownerView(r.db, user.name, d.accounts)) : []);
  return {
    user: user ?? null,
    uid,
    gid: caller.gid,
    owned: { subuid: owned(d.subuid), subgid: owned(d.subgid) },
    allowed: maps.every((m) => m.allowed),
    maps,
    paths,
  };
}

function summarize(kind: MapKindName, dec: NewIdmapDecision | FsidMapDecision): MapCheck {
  return {
    kind,
    allowed: dec.allowed,
    stage: dec.stage,
    rule: dec.rule,
    message: dec.message,
    hint: dec.hint,
    write: dec.write,
    installed: dec.installed ? formatCompact(dec.installed) : null,
    decision: dec,
  };
}

export interface AuditRequest {
  readonly paths?: Partial<HostPaths>;
  readonly maxPerCode?: number;
}

export function auditHost(req: AuditRequest = {}): AuditReport & { readonly paths: HostPaths } {
  const { paths, delegation: d } = loadRequested(req.paths ?? {});
  const file = (r: SubidFileRead) => ({
    path: r.path,
    state: r.state,
    db: r.db,
    ...(r.mode === undefined ? {} : { mode: r.mode, uid: r.uid, gid: r.gid, hasNul: r.hasNul }),
  });
  const report = auditSubids({
    subuid: file(d.subuid),
    subgid: file(d.subgid),
    accounts: d.accounts,
    ...(req.maxPerCode === undefined ? {} : { maxPerCode: req.maxPerCode }),
  });
  return { ...report, paths };
}
