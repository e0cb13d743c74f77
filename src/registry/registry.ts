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
          pools = childPools(req, parent);
          scopeKey = parent!.id;
          parentId = parent!.id;
        }
        const fsTarget = req.fs != null ? await tx.byName(realmId, req.fs) : undefined;
        checkFsTarget(req, fsTarget);
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

  /** An existing name: a new holder takes it over when it has none or its holder is gone. */
  private async reuse(tx: StoreTx, existing: AllocationRow, holder: Holder | null, holderGone: boolean): Promise<AllocateResult> {
    if (holder && (!existing.holder || holderGone) && !(existing.holder && sameHolder(existing.holder, holder))) {
      await tx.setHolder(existing.id, holder);
      return { allocation: { ...plain(existing), holder }, created: false, via: 'existing' };
    }
    return { allocation: plain(existing), created: false, via: 'existing' };
  }

  async release(name: string, options: ReleaseOptions = {}): Promise<Allocation> {
    const realm = checkName(options.realm ?? DEFAULT_REALM, 'realm');
    checkName(name);
    let committed: (() => void) | undefined;
    let touched: number | undefined;
    try {
      const released = await this.store.write(async (tx) => {
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
        touched = a.scopeKey;
        const generation = await tx.lockScope(a.scopeKey);
        await tx.remove(a.id);
        const next = await tx.generationOf(a.scopeKey);
        committed = () => this.cache.apply(a.scopeKey, generation, next, a, -1);
        return plain(a);
      });
      committed?.();
      return released;
    } catch (e) {
      if (touched !== undefined) this.cache.drop(touched);
      throw e;
    }
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
