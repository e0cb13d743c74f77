import {
  type AllocRequest,
  type ExclusionOptions,
  type Holder,
  type HostFacts,
  type RandomSource,
  type WhoAnswer,
  explainId,
  holderState,
  hostExclusions,
  subidPools,
} from '../alloc/index.js';
import { UsageError } from '../errors.js';
import type { AllocateResult, MappedCheck, Registry } from '../registry/contract.js';
import { stillMapped, takeCensus } from '../userns-census/index.js';
import { type GcResult, collectGarbage } from '../registry/gc.js';
import { localHolderProbe, localIdentity } from './holder.js';
import { readHostFacts, userSpellings } from './host-facts.js';

/**
 * The allocator as the CLI and `run` use it: the host's facts read once,
 * turned into exclusions (and, for --pool-user, into the pool), then one
 * registry call. Everything that decides is in src/alloc and src/registry.
 */
export interface HostAllocateOptions {
  /** Read /etc files below this directory (default /). */
  readonly root?: string;
  /** Keep clear of every user's /etc/subuid and /etc/subgid ranges. */
  readonly respectSubids?: boolean;
  /** Take the pool from this user's /etc/subuid and /etc/subgid lines (others' lines are then excluded). */
  readonly poolUser?: string;
  readonly random?: RandomSource;
  /** Facts already read (tests, long-running callers); otherwise read from root. */
  readonly facts?: HostFacts;
  /** Secret key for first placement (AllocateOptions.placementKey). */
  readonly placementKey?: Uint8Array;
}

export async function allocateOnHost(
  registry: Registry,
  request: AllocRequest,
  options: HostAllocateOptions = {},
): Promise<AllocateResult> {
  const facts = options.facts ?? readHostFacts(options.root === undefined ? {} : { root: options.root });
  let req = request;
  const exclusionOptions: { respectSubids?: boolean; poolUser?: readonly string[] } = { respectSubids: options.respectSubids ?? false };
  if (options.poolUser !== undefined) {
    if (request.uidPool || request.gidPool || request.parent) throw new UsageError('--pool-user excludes --pool and --parent');
    const names = userSpellings(facts, options.poolUser);
    req = { ...request, ...subidPools(facts, names) };
    exclusionOptions.poolUser = names;
  }
  const probe = req.holder ? localHolderProbe() : undefined;
  return registry.allocate(req, {
    exclusions: hostExclusions(facts, exclusionOptions as ExclusionOptions),
    ...(probe ? { holderGone: (h: Holder) => holderState(h, probe) === 'gone' } : {}),
    ...(options.random ? { random: options.random } : {}),
    ...(options.placementKey ? { placementKey: options.placementKey } : {}),
  });
}

/** Who holds host id `id`: the registry's allocations of the realm, the host's subids, users, groups, reserved ranges. */
export async function whoHolds(
  registry: Registry,
  id: number,
  options: { realm?: string; root?: string; facts?: HostFacts } = {},
): Promise<WhoAnswer> {
  const facts = options.facts ?? readHostFacts(options.root === undefined ? {} : { root: options.root });
  return explainId(id, await registry.containing(id, options.realm), facts);
}

/**
 * The kernel's truth on this machine for releases: a census of every user
 * namespace here (src/userns-census), taken now. A range any of them maps
 * is kept draining rather than freed.
 */
export async function localMappedCheck(options: { settleMs?: number } = {}): Promise<MappedCheck> {
  const census = await takeCensus(options.settleMs !== undefined ? { settleMs: options.settleMs } : {});
  const { bootId, machineId } = localIdentity();
  return { bootId, machineId, mappedBy: (a) => stillMapped(census, a.uid, a.gid) };
}

/** Releases allocations whose holder processes on this machine are gone (draining those still mapped), and frees drained ones. */
export async function collectStale(
  registry: Registry,
  options: { realm?: string; dryRun?: boolean; deadHost?: string } = {},
): Promise<GcResult> {
  return collectGarbage(registry, localHolderProbe(), { ...options, mapped: await localMappedCheck() });
}
