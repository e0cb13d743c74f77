import { type Allocation, DEFAULT_REALM, type HolderProbe, holderState } from '../alloc/index.js';
import { FsidmapError, isFsidmapError } from '../errors.js';
import type { MappedCheck, Registry } from './contract.js';

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
  /** This machine's census: stale ranges still mapped drain instead, and drained ones are freed. */
  readonly mapped?: MappedCheck;
}

export interface GcResult {
  /** Released (or, in a dry run, releasable) allocations whose holders are gone. */
  readonly released: Allocation[];
  /** Stale allocations left in place, and why (a live child, a container using it, a new holder). */
  readonly kept: { allocation: Allocation; reason: string; code: string }[];
  /** Allocations held on other machines, which only those machines can judge. */
  readonly elsewhere: number;
  /** Released, but a user namespace here still maps them: kept, draining. */
  readonly draining: { allocation: Allocation; heldBy: string }[];
  /** Draining allocations freed now that nothing maps them (or would be, in a dry run). */
  readonly drained: Allocation[];
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
  const draining: GcResult['draining'] = [];
  const drained: Allocation[] = [];
  const mapped = options.mapped;
  for (const a of stale) {
    if (options.dryRun) {
      const heldBy = mapped && !a.draining ? mapped.mappedBy(a) : null;
      if (heldBy !== null) draining.push({ allocation: a, heldBy });
      else released.push(a);
      continue;
    }
    try {
      const r = await registry.release(a.name, { realm, expectHolder: a.holder!, ...(mapped ? { mapped } : {}) });
      if (r.draining && r.heldBy) draining.push({ allocation: r, heldBy: r.heldBy });
      else released.push(r);
    } catch (e) {
      if (!isFsidmapError(e)) throw e;
      kept.push({ allocation: a, reason: e.message, code: e.code });
    }
  }
  if (mapped) {
    const settled = new Set([...released, ...draining.map((d) => d.allocation)].map((a) => a.name));
    if (options.dryRun) {
      for (const a of await registry.list({ realm, draining: true }))
        if (!settled.has(a.name) && a.draining!.machineId === mapped.machineId && mapped.mappedBy(a) === null) drained.push(a);
    } else {
      const r = await registry.reap(mapped, realm);
      drained.push(...r.freed.filter((a) => !settled.has(a.name)));
      for (const h of r.held) if (!settled.has(h.allocation.name)) draining.push(h);
    }
  }
  return { released, kept, elsewhere, draining, drained };
}
