import { FsidmapError } from '../errors.js';
import type { Extent } from '../idmap/index.js';
import { readAccounts } from '../host/accounts-file.js';
import { type HostPaths, hostPaths } from '../host/paths.js';
import { readSubidFile, shadowView } from '../host/subid-file.js';
import { ownedIntervals, ownerView } from '../policy/subid-owner.js';

/** An extent of a user's namespace map (below), in the id-map language's own words (first inside, lower on the host, count). */
export type SubidExtent = Extent;

/**
 * The map of a user's own namespace: id 0 is the user's own uid (gid), ids
 * 1..N are the first subordinate range /etc/subuid (/etc/subgid) gives them,
 * as newuidmap finds it (owner by name, then by uid). One extent of each
 * kind is enough for what it is for (an image's ids start at 0 and are
 * dense), and the first range is the one usermod and useradd hand out.
 */
export interface SubidMap {
  readonly user: string;
  readonly uid: readonly SubidExtent[];
  readonly gid: readonly SubidExtent[];
}

/** The lines newuidmap and /proc/PID/uid_map take: "first lower count" per extent. */
export function mapLines(extents: readonly SubidExtent[]): string {
  return extents.map((e) => `${e.first} ${e.lower} ${e.count}\n`).join('');
}

/** How many ids (0..size-1) the map covers without a gap. */
export function mapSize(extents: readonly SubidExtent[]): number {
  let next = 0;
  for (const e of [...extents].sort((a, b) => a.first - b.first)) {
    if (e.first !== next) break;
    next += e.count;
  }
  return next;
}

/** Image id → host id, or undefined when the map does not cover it. */
export function mapId(extents: readonly SubidExtent[], id: number): number | undefined {
  for (const e of extents) if (id >= e.first && id < e.first + e.count) return e.lower + (id - e.first);
  return undefined;
}

export interface CallerIds {
  readonly uid: number;
  readonly gid: number;
}

export function subidMapFor(caller: CallerIds, paths: Partial<HostPaths> = {}): SubidMap {
  const p = hostPaths(paths);
  const accounts = readAccounts(p, { passwd: { missingOk: false } });
  const pw = accounts.getpwuid(caller.uid);
  if (!pw)
    throw new FsidmapError('ERR_SUBID_NO_RANGE', `uid ${caller.uid} has no entry in ${p.passwd}: newuidmap maps nothing for it`, {
      context: { uid: caller.uid },
      hint: 'give the user an account in /etc/passwd (useradd), then subordinate ids (usermod --add-subuids … --add-subgids …)',
    });
  const first = (which: 'subuid' | 'subgid'): [number, number] => {
    const db = shadowView(readSubidFile(p[which]));
    const spans = db ? ownedIntervals(ownerView(db, pw.name, accounts)).filter(([s, e]) => e > s && s > 0) : [];
    if (spans.length === 0)
      throw new FsidmapError('ERR_SUBID_NO_RANGE', `${pw.name} has no subordinate ${which === 'subuid' ? 'uids' : 'gids'} in ${p[which]}`, {
        context: { user: pw.name, file: p[which] },
        hint: `an administrator gives them with: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${pw.name} (a range no one else has)`,
      });
    return spans[0];
  };
  const [us, ue] = first('subuid');
  const [gs, ge] = first('subgid');
  return {
    user: pw.name,
    uid: [
      { first: 0, lower: caller.uid, count: 1 },
      { first: 1, lower: us, count: ue - us },
    ],
    gid: [
      { first: 0, lower: caller.gid, count: 1 },
      { first: 1, lower: gs, count: ge - gs },
    ],
  };
}
