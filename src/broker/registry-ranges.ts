import type { Allocation, AllocKind, Pool } from '../alloc/index.js';
import { randomBytes } from 'node:crypto';
import { allocateOnHost } from '../alloc-host/index.js';
import { FsidmapError } from '../errors.js';
import type { MappedCheck, Registry } from '../registry/index.js';
import type { AllocatedRange, RangeStore } from './ports.js';

/**
 * The broker's allocations in the range registry (src/registry), made with
 * the host allocator (src/alloc-host) so they avoid real users, groups and
 * every /etc/subuid and /etc/subgid range. Each is recorded with the peer as
 * owner ("uid:N") under the name "uid:N/NAME": peers choose names freely and
 * cannot see, reuse or release each other's.
 */
/** How long a release waits for namespaces seen only by their handle to be freed (see census.ts, settleMs). */
const RELEASE_SETTLE_MS = 500;

export function registryRanges(
  registry: Registry,
  options: { realm?: string; mapped?: (o?: { settleMs?: number }) => Promise<MappedCheck>; pool?: Pool; placementKey?: Uint8Array } = {},
): RangeStore {
  const realm = options.realm;
  // The first slot tried for a name is HMAC(key, name): users cannot compute, and so cannot aim at, each other's.
  // Drawn per broker process: a name released and asked for again lands on the same slot while it runs.
  const placementKey = options.placementKey ?? randomBytes(32);
  const mapped = options.mapped;
  const realmOpt = realm ? { realm } : {};
  /** Reaps only when something drains: a census walks every process of the host. */
  const reap = async () => {
    if (!mapped || (await registry.list({ ...realmOpt, draining: true })).length === 0) return { freed: 0, held: 0 };
    const r = await registry.reap(await mapped(), realm);
    return { freed: r.freed.length, held: r.held.length + r.elsewhere };
  };
  const full = (owner: string, name: string) => `${owner}/${name}`;
  const view = (a: Allocation, owner: string): AllocatedRange => ({
    name: a.name.slice(owner.length + 1),
    kind: a.kind as AllocatedRange['kind'],
    uid: { start: a.uid.start, count: a.uid.end - a.uid.start },
    gid: { start: a.gid.start, count: a.gid.end - a.gid.start },
    createdAt: a.createdAt,
    state: a.draining ? 'draining' : 'allocated',
  });
  const mine = (a: Allocation, owner: string) => a.owner === owner && a.name.startsWith(`${owner}/`);
  return {
    async allocate(owner, name, kind, size) {
      // A range that drained meanwhile is free again before the choice.
      await reap();
      const r = await allocateOnHost(
        registry,
        {
          name: full(owner, name),
          kind: kind as AllocKind,
          owner,
          ...(size !== null ? { size } : {}),
          ...(options.pool ? { uidPool: options.pool, gidPool: options.pool } : {}),
          ...(realm ? { realm } : {}),
        },
        { respectSubids: true, placementKey },
      );
      if (!mine(r.allocation, owner)) {
        throw new FsidmapError('ERR_NAME_TAKEN', `"${name}" is held by someone else`, { hint: 'choose another name' });
      }
      return { range: view(r.allocation, owner), created: r.created };
    },
    async release(owner, name) {
      const a = await registry.get(full(owner, name), realm);
      if (!a || !mine(a, owner)) {
        throw new FsidmapError('ERR_NO_SUCH_ALLOCATION', `you hold no allocation named "${name}"`, {
          hint: 'fsidmap broker list shows yours',
          context: { name },
        });
      }
      // A container's namespace outlives its last process by a moment (the kernel frees it after RCU and a work item):
      // a release right at its exit waits that moment rather than leaving the range draining for the next reap.
      const r = await registry.release(a.name, {
        ...realmOpt,
        ...(mapped ? { mapped: await mapped({ settleMs: RELEASE_SETTLE_MS }) } : {}),
      });
      return { ...view(r, owner), ...(r.heldBy ? { heldBy: r.heldBy } : {}) };
    },
    reap,
    async all() {
      return (await registry.list(realmOpt)).flatMap((a) => {
        const m = a.owner !== null && /^uid:\d+$/.test(a.owner) ? a.owner : null;
        return m && mine(a, m) ? [{ ...view(a, m), owner: m }] : [];
      });
    },
    async list(owner) {
      return (await registry.list(realm ? { realm } : {})).filter((a) => mine(a, owner)).map((a) => view(a, owner));
    },
    close: () => registry.close(),
  };
}
