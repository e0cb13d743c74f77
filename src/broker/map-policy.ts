import { FsidmapError } from '../errors.js';
import { type IdMap, isCheckRule, mountMap, parseMap, ruleCode } from '../idmap/index.js';
import { decideFsidMap, decideNewIdmap, type FsidMapDecision, type NewIdmapDecision } from '../policy/index.js';
import type { PeerView } from './peer-view.js';

/**
 * What the broker may write or mount for a peer, decided by the delegation
 * policy of src/policy. Pure.
 *
 * Namespace maps are exactly what newuidmap and newgidmap would write for
 * the peer (decideNewIdmap: its caller and target checks, verify_range over
 * /etc/subuid or /etc/subgid, "own id alone with count 1", setgroups "deny"
 * when no subordinate gid range is used — CVE-2018-7169 — and the kernel's
 * map_write rules), where the ranges the broker allocated to the peer count
 * as subordinate lines of the peer (PeerView adds them).
 *
 * Mount maps (on-disk id → id seen through the mount) go through the fsid
 * policy (decideFsidMap: every id of a map's lower column owned by the
 * peer — own id or delegated) twice: once with the on-disk ids as the lower
 * column, because those are the peer's files, and once with the ids of the
 * view, because a view that shows the peer's files as owned by anyone else —
 * host root above all — turns the peer's setuid file into that someone's
 * shell. Both sides lying in the peer's ids is also why nosuid is not forced
 * (a setuid file can only become an id the peer already owns, which a
 * container's su needs); nodev always is.
 */

export interface Refusal {
  readonly code: string;
  readonly message: string;
  readonly hint: string;
  readonly context: Record<string, unknown>;
}

export type Decision<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly refusal: Refusal };

function refuse<T>(code: string, message: string, hint: string, context: Record<string, unknown> = {}): Decision<T> {
  return { ok: false, refusal: { code, message, hint, context } };
}

/** parseMap (kernel lines or the inline form) with its FsidmapError turned into a refusal. */
export function readMap(text: string, what: string): Decision<IdMap> {
  try {
    return { ok: true, value: parseMap(text, what) };
  } catch (e) {
    if (e instanceof FsidmapError)
      return refuse(e.code, `${what}: ${e.message}`, e.hint ?? 'write lines "first lower count" or the inline form first:lower:count,…', {
        ...e.context,
        what,
      });
    throw e;
  }
}

function args(map: IdMap, swap = false): string[] {
  return map.extents.flatMap((e) => (swap ? [e.lower, e.first, e.count] : [e.first, e.lower, e.count]).map(String));
}

export interface NamespaceMaps {
  /** What to write, as newuidmap/newgidmap write it. */
  readonly uidText: string;
  readonly gidText: string;
  /** "deny" when the broker must write it (before gid_map), "allow" when setgroups stays as it is. */
  readonly setgroups: 'allow' | 'deny';
}

export interface TargetState {
  /** Owner of /proc/PID (the target's euid and egid). */
  readonly uid: number;
  readonly gid: number;
  readonly setgroups: 'allow' | 'deny';
}

export function decideNamespaceMaps(
  view: PeerView,
  target: TargetState,
  uidText: string,
  gidText: string,
  setgroups: 'allow' | 'deny' | null,
): Decision<NamespaceMaps> {
  const uid = readMap(uidText, 'uidMap');
  if (!uid.ok) return uid;
  const gid = readMap(gidText, 'gidMap');
  if (!gid.ok) return gid;
  const common = {
    caller: { uid: view.peer.uid, gid: view.peer.gid, ...(view.user ? { loginName: view.user.name } : {}) },
    target: { uid: target.uid, gid: target.gid },
    accounts: view.accounts,
    grantAuxGroupSubids: view.grantAuxGroupSubids,
    setgroups: target.setgroups,
  };
  const u = decideNewIdmap({ ...common, tool: 'newuidmap', args: args(uid.value), subids: view.subuid });
  if (!u.allowed) return policyRefusal('uidMap', u);
  const g = decideNewIdmap({ ...common, tool: 'newgidmap', args: args(gid.value), subids: view.subgid });
  if (!g.allowed) return policyRefusal('gidMap', g);
  const forcedDeny = g.setgroups === 'deny';
  if (setgroups === 'allow' && forcedDeny) {
    return refuse(
      'ERR_BROKER_SETGROUPS',
      'setgroups "allow" needs a gid map line from your subordinate (or allocated) gids; a map of only your own gid forces "deny"',
      'leave setgroups out (the broker writes "deny", as newgidmap does), or map a range of your /etc/subgid ids',
      { setgroups },
    );
  }
  const deny = forcedDeny || (setgroups === 'deny' && target.setgroups !== 'deny');
  return { ok: true, value: { uidText: u.write!, gidText: g.write!, setgroups: deny ? 'deny' : 'allow' } };
}

function policyRefusal<T>(what: string, d: NewIdmapDecision): Decision<T> {
  const code =
    d.stage === 'ranges'
      ? 'ERR_BROKER_IDS_NOT_OWNED'
      : d.stage === 'kernel' && isCheckRule(d.rule)
        ? ruleCode(d.rule)
        : 'ERR_BROKER_POLICY';
  return refuse(code, `${what}: ${d.message}`, d.hint ?? '', {
    map: what,
    stage: d.stage,
    rule: d.rule,
    ...(d.stderr ? { tool: d.stderr } : {}),
  });
}

export interface MountMaps {
  /** on-disk id → id seen through the mount (kernel ids). */
  readonly uid: IdMap;
  readonly gid: IdMap;
}

/** The mount maps of a request: given, or derived from the id and fsid maps (M = idmap ∘ fsidmap⁻¹). */
export function mountMapsOf(req: {
  mountMap: { uid: string; gid: string } | null;
  idmap: { uid: string; gid: string } | null;
  fsidmap: { uid: string; gid: string } | null;
}): Decision<MountMaps> {
  if (req.mountMap) {
    const u = readMap(req.mountMap.uid, 'mountMap.uid');
    if (!u.ok) return u;
    const g = readMap(req.mountMap.gid, 'mountMap.gid');
    if (!g.ok) return g;
    return { ok: true, value: { uid: u.value, gid: g.value } };
  }
  const maps: IdMap[] = [];
  for (const [what, text] of [
    ['idmap.uid', req.idmap!.uid],
    ['idmap.gid', req.idmap!.gid],
    ['fsidmap.uid', req.fsidmap!.uid],
    ['fsidmap.gid', req.fsidmap!.gid],
  ] as const) {
    const m = readMap(text, what);
    if (!m.ok) return m;
    maps.push(m.value);
  }
  try {
    return { ok: true, value: { uid: mountMap(maps[0], maps[2]), gid: mountMap(maps[1], maps[3]) } };
  } catch (e) {
    if (e instanceof FsidmapError) return refuse(e.code, e.message, e.hint ?? '', e.context);
    throw e;
  }
}

export function decideMountMaps(view: PeerView, maps: MountMaps): Decision<MountMaps> {
  if (!view.user)
    return refuse(
      'ERR_BROKER_POLICY',
      `uid ${view.peer.uid} has no passwd entry, so it owns no delegated ids`,
      'the broker serves users listed in /etc/passwd',
    );
  for (const kind of ['uid', 'gid'] as const) {
    const map = maps[kind];
    for (const side of ['on-disk', 'view'] as const) {
      // decideFsidMap checks the lower column: put the side under test there.
      const d = decideFsidMap({
        kind: kind === 'uid' ? 'fsuid' : 'fsgid',
        args: args(map, side === 'on-disk'),
        user: view.user,
        gid: view.peer.gid,
        accounts: view.accounts,
        subids: kind === 'uid' ? view.subuid : view.subgid,
      });
      if (!d.allowed) return mountRefusal(kind, side, map, d);
    }
  }
  return { ok: true, value: maps };
}

function mountRefusal<T>(kind: 'uid' | 'gid', side: 'on-disk' | 'view', map: IdMap, d: FsidMapDecision): Decision<T> {
  if (d.stage !== 'ownership' || !d.refusal) {
    const code = d.stage === 'kernel' && isCheckRule(d.rule) ? ruleCode(d.rule) : 'ERR_BROKER_POLICY';
    return refuse(code, `mount ${kind} map: ${d.message}`, d.hint ?? '', { kind, rule: d.rule });
  }
  const r = d.refusal;
  const e = map.extents[r.mapping - 1];
  const root = r.id === 0 ? ' — that is host root' : '';
  return refuse(
    'ERR_BROKER_IDS_NOT_OWNED',
    `mount ${kind} map line ${r.mapping} (${e.first} ${e.lower} ${e.count}) has ${kind} ${r.id} on its ${side} side, which is not yours${root}: ${d.message}`,
    side === 'view'
      ? "the ids files are shown as must be yours too: a view showing your files as someone else's would make your setuid files their shell"
      : 'a mount may expose only files owned by your ids (your own id, your /etc/sub*id ranges, ranges the broker allocated to you)',
    { kind, line: r.mapping, side, id: r.id },
  );
}
