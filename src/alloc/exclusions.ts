import { FsidmapError } from '../errors.js';
import type { HostFacts, SubidRange } from './explain.js';
import { IntervalSet } from './interval-set.js';
import { type Pool, poolOf } from './pool.js';
import { reservedSet } from './reserved.js';

export interface ExclusionOptions {
  /** Keep clear of every user's /etc/subuid and /etc/subgid ranges (except the pool user's own). */
  readonly respectSubids?: boolean;
  /** The user whose subordinate ranges are the pool: theirs are the pool, everyone else's are excluded. */
  readonly poolUser?: readonly string[];
}

/** Host ids no allocation may take, per side: reserved ranges, real users/groups, and subordinate ranges when asked. */
export interface Exclusions {
  readonly uid: IntervalSet;
  readonly gid: IntervalSet;
}

/**
 * Ids of real users and groups are excluded one by one (a 65536-slot is then
 * unusable as a whole: a container whose range held uid 1234567 of an LDAP
 * user could read that user's files). Subordinate ranges of users other
 * than the pool's own are excluded when the pool comes from /etc/subuid, or
 * when the operator asks (respectSubids).
 */
export function hostExclusions(facts: HostFacts, options: ExclusionOptions = {}): Exclusions {
  const own = new Set(options.poolUser ?? []);
  const subids = (list: readonly SubidRange[]): SubidRange[] =>
    options.respectSubids || own.size > 0 ? list.filter((s) => !own.has(s.owner)) : [];
  const reserved = [...reservedSet()];
  return {
    uid: IntervalSet.of([...reserved, ...facts.users.map((u) => ({ start: u.id, end: u.id + 1 })), ...subids(facts.subuid)]),
    gid: IntervalSet.of([...reserved, ...facts.groups.map((g) => ({ start: g.id, end: g.id + 1 })), ...subids(facts.subgid)]),
  };
}

/**
 * A user's /etc/subuid and /etc/subgid lines as pools. `names` are the
 * spellings an entry's owner field may use (the user name and the numeric
 * uid), as shadow's find_range matches either.
 */
export function subidPools(facts: HostFacts, names: readonly string[]): { uidPool: Pool; gidPool: Pool } {
  const pick = (list: readonly SubidRange[], file: string): Pool => {
    const mine = list.filter((s) => names.includes(s.owner));
    if (mine.length === 0) {
      throw new FsidmapError('ERR_POOL_INVALID', `${names[0]} has no entry in /etc/${file}`, {
        hint: `give ${names[0]} subordinate ids (usermod --add-subuids/--add-subgids) or use --pool START:COUNT`,
        context: { user: names[0], file },
      });
    }
    return poolOf(
      mine.map((s) => ({ start: s.start, end: s.end })),
      `/etc/${file} ranges of ${names[0]}`,
      { anchored: true, grow: `give ${names[0]} more subordinate ids (usermod --add-subuids FIRST-LAST --add-subgids FIRST-LAST)` },
    );
  };
  return { uidPool: pick(facts.subuid, 'subuid'), gidPool: pick(facts.subgid, 'subgid') };
}
