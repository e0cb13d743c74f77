import {
  type AllocRequest,
  type Allocation,
  DEFAULT_REALM,
  type Holder,
  checkExisting,
  checkFsTarget,
  checkName,
  checkReleasable,
  childPools,
  chooseIds,
  cryptoRandom,
  normalizeRequest,
  ownerFor,
  sameHolder,
} from '../alloc/index.js';
import { FsidmapError } from '../errors.js';
import type {
  AllocateOptions,
  AllocateResult,
  AllocationRow,
  ListFilter,
  MappedCheck,
  ReapResult,
  Released,
  References,
  Registry,
  RegistryInfo,
  ReleaseOptions,
  Store,
  StoreTx,
} from './contract.js';
import { ScopeCache } from './scope-cache.js';

/** Strips the store's keys so callers see plain Allocations. */
function plain(row: AllocationRow): Allocation {
  const { realmId: _r, scopeKey: _s, ...a } = row;
  return a;
}

function notFound(name: string, realm: string): FsidmapError {
  return new FsidmapError('ERR_NO_SUCH_ALLOCATION', `no allocation named "${name}" in realm ${realm}`, {
    hint: 'fsidmap list shows what is allocated',
    context: { name, realm },
  });
}

/** Why a range is still mapped on this machine, or null. A range drained on an earlier boot is free: no namespace outlives a reboot. */
function stillHeld(a: Allocation, mapped: MappedCheck): string | null {
  if (a.draining && a.draining.machineId !== mapped.machineId)
    return `draining on machine ${a.draining.machineId}, which alone can tell it is free`;
  if (a.draining && a.draining.bootId !== mapped.bootId) return null;
  return mapped.mappedBy(a);
}

function drainingRefusal(a: AllocationRow, as: 'parent' | 'fs'): FsidmapError {
  return new FsidmapError(
    'ERR_ALLOC_DRAINING',
    `"${a.name}" was released and is draining (a user namespace still maps it); it cannot be used as ${as === 'parent' ? '--parent' : '--fs'}`,
    {
      hint: `allocate ${a.name} again to take it back, or wait until nothing maps it (fsidmap gc frees it then)`,
      context: { name: a.name, since: a.draining?.since },
    },
  );
}

/**
 * The registry's logic, once, over any Store: idempotent allocation with the
 * pure chooser, reference-checked release, holders. The stores provide
 * transactions and rows; everything that decides lives here or in src/alloc.
 */
export class StoreRegistry implements Registry {
  private readonly cache = new ScopeCache();

  constructor(private readonly store: Store) {}

  get info(): RegistryInfo {
    return this.store.info;
  }

  async allocate(request: AllocRequest, options: AllocateOptions): Promise<AllocateResult> {
    const req = normalizeRequest(request);
    const random = options.random ?? cryptoRandom;
    let committed: (() => void) | undefined;
    let touched: number | undefined;
    try {
      const result = await this.store.write(async (tx) => {
        committed = undefined;
        const realmId = (await tx.realmId(req.realm, true))!;
        const existing = await tx.byName(realmId, req.name);
        if (existing) {
          const gone = existing.holder !== null && (options.holderGone?.(existing.holder) ?? false);
          checkExisting(existing, req, gone);
          return this.reuse(tx, existing, req.holder, gone);
        }
        let pools = { uidPool: req.uidPool, gidPool: req.gidPool };
        let scopeKey = -realmId;
        let parentId: number | null = null;
        if (req.parent !== null) {
          const parent = await tx.byName(realmId, req.parent);
          if (parent?.draining) throw drainingRefusal(parent, 'parent');
          pools = childPools(req, parent);
          scopeKey = parent!.id;
          parentId = parent!.id;
        }
        const fsTarget = req.fs != null ? await tx.byName(realmId, req.fs) : undefined;
        checkFsTarget(req, fsTarget);
        if (fsTarget?.draining) throw drainingRefusal(fsTarget, 'fs');
        touched = scopeKey;
        const generation = await tx.lockScope(scopeKey);
        const view =
          this.cache.get(scopeKey, generation, options.exclusions) ??
          this.cache.build(scopeKey, generation, options.exclusions, await tx.scopeRanges(scopeKey));
        const { uid, gid } = chooseIds({
          name: req.name,
          size: req.size,
          random,
          bothBlocked: view.both,
          ...(options.placementKey ? { homeKey: options.placementKey } : {}),
          uid: { pool: pools.uidPool, blocked: view.uid },
          gid: { pool: pools.gidPool, blocked: view.gid },
        });
        const row = await tx.insert({
          realmId,
          realm: req.realm,
          parent: req.parent,
          fs: fsTarget?.name ?? null,
          name: req.name,
          kind: req.kind,
          owner: ownerFor(req),
          scopeKey,
          parentId,
          fsId: fsTarget?.id ?? null,
          uid: { start: uid.start, end: uid.end },
          gid: { start: gid.start, end: gid.end },
          holder: req.holder,
          createdAt: new Date().toISOString(),
        });
        const next = await tx.generationOf(scopeKey);
        committed = () => this.cache.apply(scopeKey, generation, next, row, 1);
        return { allocation: plain(row), created: true, via: uid.via } satisfies AllocateResult;
      });
      committed?.();
      return result;
    } catch (e) {
      if (touched !== undefined) this.cache.drop(touched);
      throw e;
    }
  }

  /**
   * An existing name: a new holder takes it over when it has none or its
   * holder is gone. A draining one is live again: its name's owner asks for
   * it back, and whatever still maps it is that owner's.
   */
  private async reuse(tx: StoreTx, existing: AllocationRow, holder: Holder | null, holderGone: boolean): Promise<AllocateResult> {
    if (existing.draining) {
      await tx.setDraining(existing.id, null);
      const { draining: _d, ...live } = existing;
      existing = live;
    }
    if (holder && (!existing.holder || holderGone) && !(existing.holder && sameHolder(existing.holder, holder))) {
      await tx.setHolder(existing.id, holder);
      return { allocation: { ...plain(existing), holder }, created: false, via: 'existing' };
    }
    return { allocation: plain(existing), created: false, via: 'existing' };
  }

  async release(name: string, options: ReleaseOptions = {}): Promise<Released> {
    const realm = checkName(options.realm ?? DEFAULT_REALM, 'realm');
    checkName(name);
    let committed: (() => void) | undefined;
    let touched: number | undefined;
    try {
      const released = await this.store.write(async (tx): Promise<Released> => {
        committed = undefined;
        const realmId = await tx.realmId(realm, false);
        const a = realmId === undefined ? undefined : await tx.byName(realmId, name);
        if (!a) throw notFound(name, realm);
        checkReleasable(a, await tx.users(a.id), await tx.children(a.id));
        if (options.expectHolder && !(a.holder && sameHolder(a.holder, options.expectHolder))) {
          throw new FsidmapError('ERR_ALLOC_HELD', `"${name}" changed holder since it was found stale; left in place`, {
            context: { name, realm, holder: a.holder },
          });
        }
        const heldBy = options.mapped ? stillHeld(plain(a), options.mapped) : null;
        if (heldBy !== null) {
          // Its ids stay blocked (the row stays): nothing to tell the scope cache.
          const draining = a.draining ?? {
            since: new Date().toISOString(),
            bootId: options.mapped!.bootId,
            machineId: options.mapped!.machineId,
          };
          if (!a.draining) await tx.setDraining(a.id, draining);
          return { ...plain(a), draining, heldBy };
        }
        touched = a.scopeKey;
        const generation = await tx.lockScope(a.scopeKey);
        await tx.remove(a.id);
        const next = await tx.generationOf(a.scopeKey);
        committed = () => this.cache.apply(a.scopeKey, generation, next, a, -1);
        const { draining: _d, ...gone } = plain(a);
        return gone;
      });
      committed?.();
      return released;
    } catch (e) {
      if (touched !== undefined) this.cache.drop(touched);
      throw e;
    }
  }

  async reap(mapped: MappedCheck, realm = DEFAULT_REALM): Promise<ReapResult> {
    const draining = await this.store.list({ realm: checkName(realm, 'realm'), draining: true });
    const result: ReapResult = { freed: [], held: [], elsewhere: 0 };
    for (const row of draining) {
      const a = plain(row);
      if (a.draining!.machineId !== mapped.machineId) {
        (result as { elsewhere: number }).elsewhere++;
        continue;
      }
      const heldBy = stillHeld(a, mapped);
      if (heldBy !== null) {
        result.held.push({ allocation: a, heldBy });
        continue;
      }
      try {
        const freed = await this.release(a.name, { realm, mapped });
        if (!freed.draining) result.freed.push(freed);
      } catch (e) {
        // Taken back (alloc revived it) or removed meanwhile: nothing to reap.
        if (!(e instanceof FsidmapError)) throw e;
      }
    }
    return result;
  }

  async get(name: string, realm = DEFAULT_REALM): Promise<Allocation | undefined> {
    const row = await this.store.get(checkName(realm, 'realm'), checkName(name));
    return row && plain(row);
  }

  async list(filter: ListFilter = {}): Promise<Allocation[]> {
    return (await this.store.list({ ...filter, realm: checkName(filter.realm ?? DEFAULT_REALM, 'realm') })).map(plain);
  }

  async containing(id: number, realm = DEFAULT_REALM): Promise<Allocation[]> {
    return (await this.store.containing(checkName(realm, 'realm'), id)).map(plain);
  }

  async references(name: string, realm = DEFAULT_REALM): Promise<References> {
    return this.store.write(async (tx) => {
      const realmId = await tx.realmId(realm, false);
      const a = realmId === undefined ? undefined : await tx.byName(realmId, name);
      if (!a) throw notFound(name, realm);
      return { users: (await tx.users(a.id)).map(plain), children: (await tx.children(a.id)).map(plain) };
    });
  }

  async setHolder(name: string, holder: Holder | null, realm = DEFAULT_REALM): Promise<Allocation> {
    return this.store.write(async (tx) => {
      const realmId = await tx.realmId(realm, false);
      const a = realmId === undefined ? undefined : await tx.byName(realmId, name);
      if (!a) throw notFound(name, realm);
      if (holder && a.kind !== 'container') {
        throw new FsidmapError('ERR_USAGE', `only containers have holders, not ${a.kind} "${name}"`, { context: { name, kind: a.kind } });
      }
      await tx.setHolder(a.id, holder);
      return { ...plain(a), holder };
    });
  }

  changeStamp(): Promise<string> {
    return this.store.changeStamp();
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
