import { type Allocation, DEFAULT_REALM, type HolderProbe, holderState } from '../alloc/index.js';
import { FsidmapError, isFsidmapError } from '../errors.js';
import type { Registry } from './contract.js';

export interface GcOptions {
  readonly realm?: string;
  /** Report what would be released without releasing it. */
  readonly dryRun?: boolean;
  /**
   * A machine declared dead by the operator (its machine id or host name):
   * its holders are treated as gone, whatever this host sees. Nothing else
   * ever releases another machine's allocations.
   */
  readonly deadHost?: string;
}

export interface GcResult {
  /** Released (or, in a dry run, releasable) allocations whose holders are gone. */
  readonly released: Allocation[];
  /** Stale allocations left in place, and why (a live child, a container using it, a new holder). */
  readonly kept: { allocation: Allocation; reason: string; code: string }[];
  /** Allocations held on other machines, which only those machines can judge. */
  readonly elsewhere: number;
}

/** Depth in the parent chain, so children are released before their parents. */
function depth(a: Allocation, byName: Map<string, Allocation>): number {
  let d = 0;
  for (let p = a.parent; p !== null && d < 64; p = byName.get(p)?.parent ?? null) d++;
  return d;
}

/**
 * Releases the allocations whose holder process is gone (see holderState).
 * Each release re-checks, in its transaction, that the holder is still the
 * stale one, so a container restarted meanwhile keeps its range.
 * Allocations without a holder (made by `fsidmap alloc` without --holder,
 * images, volumes) are never collected: nothing says they are unused.
 */
export async function collectGarbage(registry: Registry, probe: HolderProbe, options: GcOptions = {}): Promise<GcResult> {
  const realm = options.realm ?? DEFAULT_REALM;
  const dead = options.deadHost;
  if (dead !== undefined && (dead === probe.local.machineId || dead === probe.local.host)) {
    throw new FsidmapError('ERR_USAGE', `--dead-host ${dead} names this machine`, {
      hint: "run plain fsidmap gc here: it judges this machine's holders itself; --dead-host is for a machine that is gone",
      context: { deadHost: dead },
    });
  }
  const all = await registry.list({ realm });
  const byName = new Map(all.map((a) => [a.name, a]));
  let elsewhere = 0;
  const stale: Allocation[] = [];
  for (const a of all) {
    if (!a.holder) continue;
    let state = holderState(a.holder, probe);
    if (state === 'elsewhere' && dead !== undefined && (a.holder.machineId === dead || a.holder.host === dead)) state = 'gone';
    if (state === 'elsewhere') elsewhere++;
    else if (state === 'gone') stale.push(a);
  }
  stale.sort((a, b) => depth(b, byName) - depth(a, byName) || a.name.localeCompare(b.name));
  const released: Allocation[] = [];
  const kept: GcResult['kept'] = [];
  for (const a of stale) {
    if (options.dryRun) {
      released.push(a);
      continue;
    }
    try {
      released.push(await registry.release(a.name, { realm, expectHolder: a.holder! }));
    } catch (e) {
      if (!isFsidmapError(e)) throw e;
      kept.push({ allocation: a, reason: e.message, code: e.code });
    }
  }
  return { released, kept, elsewhere };
}
