import { createHash, createHmac } from 'node:crypto';
import { FsidmapError } from '../errors.js';
import { candidateCount, nthPoolStart, nthStart } from './free-slots.js';
import type { Range } from './interval-set.js';
import { type Pool, SLOT, gridOffset, samePools } from './pool.js';
import type { RandomSource } from './random.js';
import type { SlotMap } from './slot-map.js';

/** One side (uid or gid) of a choice: the pool to take from and the ids that are not free. */
export interface IdSpace {
  readonly pool: Pool;
  readonly blocked: SlotMap;
}

export interface Choice extends Range {
  /** 'hash' when the name's own slot was free, 'random' otherwise. */
  readonly via: 'hash' | 'random';
}

/**
 * The name's home slot index among the pool's n aligned starts: the first
 * 8 bytes of SHA-256("fsidmap-slot-v1\0" + name), big-endian, modulo n.
 * SHA-256 because it is specified once (FIPS 180-4) and computed the same by
 * every Node.js, OpenSSL, PostgreSQL (sha256()) and coreutils on every host
 * and version, unlike a keyed or engine-specific hash; the prefix leaves room
 * for a v2 without colliding with v1's placements. The modulo bias of a
 * 64-bit value over at most 65536 slots is below 2^-48.
 */
export function homeIndex(name: string, n: number, key?: Uint8Array): number {
  // With a key (the broker's, secret), HMAC-SHA-256: a home nobody without the key can compute or aim at.
  const h = key ? createHmac('sha256', key) : createHash('sha256');
  const digest = h.update(`fsidmap-slot-v1\0${name}`, 'utf8').digest();
  return Number(digest.readBigUInt64BE(0) % BigInt(n));
}

/** The start of name's home range in the pool (whether or not it is free). */
export function homeStart(name: string, pool: Pool, size: number, key?: Uint8Array): number | undefined {
  const n = candidateCount(pool, size);
  return n === 0 ? undefined : nthPoolStart(pool, size, homeIndex(name, n, key));
}

/** The grid offset of the pool range that holds `start`. */
function homeGrid(pool: Pool, start: number): number {
  const r = pool.ranges.find((x) => x.start <= start && start < x.end);
  return r ? gridOffset(pool, r) : 0;
}

function exhausted(space: IdSpace, size: number, side: string, freeIds: number, largestFreeRun: number): FsidmapError {
  const grow = space.pool.grow ?? 'use a larger --pool';
  return new FsidmapError(
    'ERR_POOL_EXHAUSTED',
    `${space.pool.label} has no free ${side} range of ${size} ids: ${freeIds} ids free in whole slots, largest free run ${largestFreeRun} ids`,
    {
      hint:
        largestFreeRun > 0
          ? `ask for at most --size ${largestFreeRun}, release allocations (fsidmap list; fsidmap gc), or ${grow}`
          : `release allocations (fsidmap list; fsidmap gc) or ${grow}; reserved ranges, ids of real users ` +
            'and groups and (if asked) subordinate ranges are never handed out: fsidmap who ID says what holds an id',
      context: { pool: space.pool.label, side, size, freeIds, largestFreeRun },
    },
  );
}

/**
 * Chooses [start, start + size) in one id space: the name's home slot when it
 * is free (a re-created container lands where it was), otherwise a start
 * drawn uniformly from every free candidate. Throws ERR_POOL_EXHAUSTED, with
 * the free count and the largest free run, only when no candidate exists.
 */
export function chooseRange(name: string, size: number, space: IdSpace, random: RandomSource, side = 'id', key?: Uint8Array): Choice {
  const home = homeStart(name, space.pool, size, key);
  if (home !== undefined && space.blocked.isFree(home, home + size, homeGrid(space.pool, home))) {
    return { start: home, end: home + size, via: 'hash' };
  }
  if (size === SLOT) {
    // One slot: the free slots are the candidates; the map counts them per block.
    const total = space.blocked.countFreeSlots(space.pool);
    if (total > 0) {
      const start = space.blocked.nthFreeSlot(space.pool, random.below(total));
      return { start, end: start + size, via: 'random' };
    }
  }
  const runs = space.blocked.freeRuns(space.pool, size);
  if (runs.total === 0) throw exhausted(space, size, side, runs.freeIds, runs.largestFreeRun);
  const start = nthStart(runs, random.below(runs.total));
  return { start, end: start + size, via: 'random' };
}

export interface IdsRequest {
  readonly name: string;
  readonly size: number;
  readonly uid: IdSpace;
  readonly gid: IdSpace;
  readonly random: RandomSource;
  /** uid.blocked + gid.blocked, when the caller keeps it up to date (the registry does); else computed. */
  readonly bothBlocked?: SlotMap;
  /** A secret key for the home slot (see homeIndex); without one the home is the public hash of the name. */
  readonly homeKey?: Uint8Array;
}

/**
 * Chooses uid and gid ranges. When both come from the same pool they are
 * chosen equal (one range free on both sides), as every runtime expects by
 * default; pools that differ (a user's /etc/subuid and /etc/subgid lines)
 * are chosen independently.
 */
export function chooseIds(req: IdsRequest): { uid: Choice; gid: Choice } {
  if (samePools(req.uid.pool, req.gid.pool)) {
    const blocked = req.bothBlocked ?? req.uid.blocked.clone().add(req.gid.blocked);
    const both = chooseRange(req.name, req.size, { pool: req.uid.pool, blocked }, req.random, 'uid+gid', req.homeKey);
    return { uid: both, gid: both };
  }
  return {
    uid: chooseRange(req.name, req.size, req.uid, req.random, 'uid', req.homeKey),
    gid: chooseRange(req.name, req.size, req.gid, req.random, 'gid', req.homeKey),
  };
}
