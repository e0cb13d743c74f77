import { FsidmapError } from '../errors.js';
import { checkMapWrite, formatKernel, type IdMap, mountMap, parseMap } from '../idmap/index.js';
import { allOwned, delegated, firstUncovered, type IdKind, type OwnedIds, type OwnedSide, showIntervals } from './owned-ids.js';

/**
 * What the broker may write or mount for a peer. Pure.
 *
 * Namespace maps follow newuidmap/newgidmap (shadow-utils verify_range):
 * every line's lower range must lie in the peer's delegated ids
 * (subordinate ranges, here also the ranges the broker allocated to it), or
 * be the peer's own uid (gid) alone with count 1; a gid map that uses no
 * delegated range forces setgroups to "deny" (CVE-2018-7169). The kernel's
 * own map_write rules come last (checkMapWrite), so a bad map is refused
 * with its line and rule instead of a bare EINVAL.
 *
 * Mount maps (on-disk id → id seen through the mount) are checked per id on
 * both sides: the on-disk side because those are the peer's files, the view
 * side because a view that shows the peer's files as owned by anyone else —
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

export interface NamespaceMaps {
  readonly uid: IdMap;
  readonly gid: IdMap;
  /** Bytes to write, kernel format, one line per extent. */
  readonly uidText: string;
  readonly gidText: string;
  readonly setgroups: 'allow' | 'deny';
}

function refuse<T>(code: string, message: string, hint: string, context: Record<string, unknown> = {}): Decision<T> {
  return { ok: false, refusal: { code, message, hint, context } };
}

/** parseMap with its FsidmapError turned into a refusal. */
export function readMap(text: string, what: string): Decision<IdMap> {
  try {
    return { ok: true, value: parseMap(text, what) };
  } catch (e) {
    if (e instanceof FsidmapError) return refuse(e.code, `${what}: ${e.message}`, e.hint ?? 'write lines "first lower count" or the inline form first:lower:count,…', { ...e.context, what });
    throw e;
  }
}

export function decideNamespaceMaps(uidText: string, gidText: string, setgroups: 'allow' | 'deny' | null, owned: OwnedIds): Decision<NamespaceMaps> {
  const uid = readMap(uidText, 'uidMap');
  if (!uid.ok) return uid;
  const gid = readMap(gidText, 'gidMap');
  if (!gid.ok) return gid;
  const u = checkNamespaceMap('uid', uid.value, owned.uid);
  if (!u.ok) return u;
  const g = checkNamespaceMap('gid', gid.value, owned.gid);
  if (!g.ok) return g;
  const allowed = g.value.usedDelegated;
  if (setgroups === 'allow' && !allowed) {
    return refuse('ERR_BROKER_SETGROUPS', 'setgroups "allow" needs a gid map line from your subordinate or allocated gids; a map of only your own gid forces "deny"',
      'leave setgroups out (the broker writes "deny"), or map a range of your /etc/subgid ids', { setgroups });
  }
  return {
    ok: true,
    value: { uid: uid.value, gid: gid.value, uidText: formatKernel(uid.value), gidText: formatKernel(gid.value), setgroups: setgroups ?? (allowed ? 'allow' : 'deny') },
  };
}

function checkNamespaceMap(kind: IdKind, map: IdMap, side: OwnedSide): Decision<{ usedDelegated: boolean }> {
  const name = `${kind}Map`;
  const delegatedIds = delegated(side);
  let usedDelegated = false;
  for (let i = 0; i < map.extents.length; i++) {
    const e = map.extents[i];
    const gap = firstUncovered(delegatedIds, e.lower, e.lower + e.count);
    if (gap === null) { usedDelegated = true; continue; }
    if (e.count === 1 && e.lower === side.own) continue;
    const ownNote = gap === side.own ? ` (your own ${kind} may only be mapped alone, with count 1)` : '';
    return refuse('ERR_BROKER_IDS_NOT_OWNED',
      `${name} line ${i + 1} (${e.first} ${e.lower} ${e.count}) maps ${kind} ${gap}, which is not yours${ownNote}; you own ${kind} ${side.own} and ${showIntervals(delegatedIds)}`,
      `map only ids of your /etc/sub${kind} ranges or of ranges the broker allocated to you (fsidmap broker alloc), or your own ${kind} alone`,
      { map: name, line: i + 1, id: gap });
  }
  const v = checkMapWrite(formatKernel(map), { kind, writer: { privileged: true, capSetfcap: true } });
  if (!v.ok) {
    return refuse(`ERR_IDMAP_${String(v.rule).toUpperCase().replace(/-/g, '_')}`, `${name}: the kernel would refuse it (${v.errno}${v.line === null ? '' : `, line ${v.line}`}): ${v.message}`, v.hint ?? '', { map: name, line: v.line });
  }
  return { ok: true, value: { usedDelegated } };
}

export interface MountMaps {
  /** on-disk id → id seen through the mount (kernel ids). */
  readonly uid: IdMap;
  readonly gid: IdMap;
}

/** The mount maps of a request: given, or derived from the id and fsid maps (M = idmap ∘ fsidmap⁻¹). */
export function mountMapsOf(req: { mountMap: { uid: string; gid: string } | null; idmap: { uid: string; gid: string } | null; fsidmap: { uid: string; gid: string } | null }): Decision<MountMaps> {
  if (req.mountMap) {
    const u = readMap(req.mountMap.uid, 'mountMap.uid');
    if (!u.ok) return u;
    const g = readMap(req.mountMap.gid, 'mountMap.gid');
    if (!g.ok) return g;
    return { ok: true, value: { uid: u.value, gid: g.value } };
  }
  const maps: IdMap[] = [];
  for (const [what, text] of [['idmap.uid', req.idmap!.uid], ['idmap.gid', req.idmap!.gid], ['fsidmap.uid', req.fsidmap!.uid], ['fsidmap.gid', req.fsidmap!.gid]] as const) {
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

export function decideMountMaps(maps: MountMaps, owned: OwnedIds): Decision<MountMaps> {
  for (const kind of ['uid', 'gid'] as const) {
    const side = owned[kind];
    const mine = allOwned(side);
    const map = maps[kind];
    if (map.extents.length === 0) return refuse('ERR_BROKER_PROTOCOL', `mountMap.${kind} is empty`, 'give at least one line');
    for (let i = 0; i < map.extents.length; i++) {
      const e = map.extents[i];
      for (const [where, start] of [['on-disk', e.first], ['view', e.lower]] as const) {
        const gap = firstUncovered(mine, start, start + e.count);
        if (gap === null) continue;
        const root = gap === 0 ? ' — that is host root' : '';
        return refuse('ERR_BROKER_IDS_NOT_OWNED',
          `mount ${kind} map line ${i + 1} (${e.first} ${e.lower} ${e.count}) has ${kind} ${gap} on its ${where} side, which is not yours${root}; you own ${showIntervals(mine)}`,
          where === 'view'
            ? 'the ids files are shown as must be yours too: a view showing your files as someone else\'s would make your setuid files their shell'
            : 'a mount may expose only files owned by your ids (your own id, your /etc/sub*id ranges, ranges the broker allocated to you)',
          { kind, line: i + 1, side: where, id: gap });
      }
    }
    const v = checkMapWrite(formatKernel(map), { kind, writer: { privileged: true, capSetfcap: true } });
    if (!v.ok) {
      return refuse(`ERR_IDMAP_${String(v.rule).toUpperCase().replace(/-/g, '_')}`, `mount ${kind} map: the kernel would refuse it (${v.errno}${v.line === null ? '' : `, line ${v.line}`}): ${v.message}`, v.hint ?? '', { kind, line: v.line });
    }
  }
  return { ok: true, value: maps };
}
