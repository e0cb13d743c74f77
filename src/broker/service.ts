import { FsidmapError } from '../errors.js';
import { formatKernel } from '../idmap/index.js';
import { MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY, makeLockedIdmappedMount } from '../kernel/mount/locked-mount.js';
import { walkPeerPath } from '../kernel/file/peer-path.js';
import { closeDescriptor } from '../kernel/socket/unix-socket.js';
import { nsHandleOf } from '../kernel/userns/ns-handle.js';
import { inspectTarget, openTarget } from '../kernel/userns/userns-target.js';
import { type Account, accountOf, describeAccount, type OwnedRange } from './account.js';
import { type Limits, limitsOfAccount, type UserLimits } from './limits.js';
import { decideMountMaps, decideNamespaceMaps, type Decision, mountMapsOf } from './map-policy.js';
import { type PeerView, peerView } from './peer-view.js';
import type { NamespaceTracker } from './namespace-tracker.js';
import { describeOwned } from './owned-ids.js';
import type { HandlerResult, Peer, RequestContext } from './peer.js';
import type { AllocatedRange, DelegationSource, MapHolderFactory, RangeStore } from './ports.js';
import { OPS, PROTOCOL_VERSION, type Request } from './protocol.js';
import { inspectComponent } from './source-policy.js';

/**
 * The broker's operations: each checks the policy for the peer the kernel
 * named, does the one privileged step, and says what it did (for the answer
 * and the audit line). A refusal is an FsidmapError with a code, a message
 * naming what is wrong and a hint; nothing is written or mounted before
 * every check has passed.
 */
export interface ServiceOptions {
  readonly limits: Limits;
  readonly delegation: DelegationSource;
  readonly holders: MapHolderFactory;
  readonly ranges: RangeStore | null;
  readonly tracker: NamespaceTracker;
  /** Every user-namespace inode on the host now, or null when some could not be read (then nothing is forgotten). */
  readonly census?: () => Promise<ReadonlySet<number> | null>;
  /** Records a namespace whose maps are about to be written, so a census finds it however it is kept (userns-census ledger). */
  readonly ledger?: (nsFd: number, inode: number, maps: { uid: string; gid: string }, by: string) => void;
  readonly version?: string;
}

/** Mounts in progress at once, over all peers: each starts two short-lived processes. */
const MOUNT_SLOTS = 8;

export class BrokerService {
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Every broker allocation's uid range and owner, for accountOf (refreshed after each change and each reap). */
  private owned: OwnedRange[] = [];
  private mountsRunning = 0;
  private readonly mountWaiters: Array<() => void> = [];

  constructor(private readonly o: ServiceOptions) {}

  handle = async (req: Request, ctx: RequestContext): Promise<HandlerResult> => {
    switch (req.op) {
      case 'hello':
        return this.hello(ctx.peer);
      case 'setmaps':
        return this.serialized(ctx.peer.account.key, () => this.setmaps(req, ctx));
      case 'mount':
        return this.withMountSlot(() => this.mount(req, ctx.peer));
      case 'alloc':
        return this.serialized(ctx.peer.account.key, () => this.alloc(req, ctx.peer));
      case 'release':
        return this.serialized(ctx.peer.account.key, () => this.release(req, ctx.peer));
      case 'list':
        return this.list(ctx.peer);
    }
  };

  private async withMountSlot<T>(fn: () => Promise<T>): Promise<T> {
    while (this.mountsRunning >= MOUNT_SLOTS) await new Promise<void>((r) => this.mountWaiters.push(r));
    this.mountsRunning++;
    try {
      return await fn();
    } finally {
      this.mountsRunning--;
      this.mountWaiters.shift()?.();
    }
  }

  private userLimits(peer: Peer): UserLimits {
    return limitsOfAccount(this.o.limits, peer.account);
  }

  /** Whom uid counts as for limits: see account.ts. Synchronous (the server asks at accept), over the last snapshot of allocations. */
  accountOf(uid: number): Account {
    return accountOf(uid, this.o.delegation.facts(), this.owned);
  }

  /** Re-reads the owners of the broker's allocations. */
  async refreshOwned(): Promise<void> {
    if (!this.o.ranges) return;
    this.owned = (await this.o.ranges.all()).flatMap((a) => {
      const m = /^uid:(\d+)$/.exec(a.owner);
      return m ? [{ owner: Number(m[1]), start: a.uid.start, count: a.uid.count }] : [];
    });
  }

  /** Every allocation (draining included) held by any uid of the peer's account: what its limits count. */
  private async accountAllocations(peer: Peer): Promise<AllocatedRange[]> {
    if (!this.o.ranges) return [];
    await this.refreshOwned();
    const facts = this.o.delegation.facts();
    const all = await this.o.ranges.all();
    return all.filter((a) => {
      const m = /^uid:(\d+)$/.exec(a.owner);
      return m !== null && accountOf(Number(m[1]), facts, this.owned).key === peer.account.key;
    });
  }

  /** One limit-checked change at a time per uid, so two connections cannot both take the last slot. */
  private serialized<T>(uid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(uid) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(uid, tail);
    void tail.then(() => {
      if (this.locks.get(uid) === tail) this.locks.delete(uid);
    });
    return next;
  }

  private async allocations(peer: Peer): Promise<AllocatedRange[]> {
    return this.o.ranges ? this.o.ranges.list(ownerOf(peer)) : [];
  }

  /** The host's delegation as this peer sees it, the broker's allocations for it included. */
  private async view(peer: Peer): Promise<PeerView> {
    return peerView(this.o.delegation.facts(), peer, live(await this.allocations(peer)));
  }

  /** Forgets the namespaces whose naming process exited and which no longer exist. */
  async pruneNamespaces(account?: string): Promise<void> {
    if (!this.o.tracker.hasSuspects(account)) return;
    const alive = this.o.census && this.o.tracker.needsCensus(account) ? await this.o.census() : null;
    this.o.tracker.prune(alive);
  }

  private async hello(peer: Peer): Promise<HandlerResult> {
    await this.pruneNamespaces(peer.account.key);
    const allocs = await this.allocations(peer);
    const counted = this.o.ranges ? await this.accountAllocations(peer) : [];
    const { owned } = peerView(this.o.delegation.facts(), peer, live(allocs));
    return {
      result: {
        server: 'fsidmap-broker',
        version: this.o.version ?? '0.1.0',
        protocol: PROTOCOL_VERSION,
        ops: OPS,
        peer: { uid: peer.uid, gid: peer.gid, pid: peer.pid, user: peer.user },
        owned: { uid: describeOwned(owned.uid), gid: describeOwned(owned.gid) },
        limits: this.userLimits(peer),
        account: { key: peer.account.key, via: peer.account.via },
        usage: {
          namespaces: this.o.tracker.count(peer.account.key),
          allocations: counted.length,
          ids: counted.reduce((s, a) => s + a.uid.count, 0),
        },
        registry: this.o.ranges !== null,
      },
      reason: 'told the peer what it owns and may do',
    };
  }

  private async setmaps(req: Extract<Request, { op: 'setmaps' }>, ctx: RequestContext): Promise<HandlerResult> {
    const { peer } = ctx;
    const [ns, pid] = ctx.fds;
    if (ns.kind !== 'userns' || pid.kind !== 'pidfd') {
      throw new FsidmapError(
        'ERR_BROKER_FDS',
        `setmaps takes the user namespace first and the pidfd second, got ${ns.kind} and ${pid.kind}`,
        {
          hint: 'send [fd of /proc/PID/ns/user, pidfd_open(PID)] in that order',
        },
      );
    }
    const facts = inspectTarget(ns.fd, pid.fd);
    if (facts.owner !== peer.uid) {
      throw new FsidmapError('ERR_BROKER_NAMESPACE', `the user namespace belongs to uid ${facts.owner}, not to you (uid ${peer.uid})`, {
        hint: 'the broker writes maps only for namespaces their owner asks about',
        context: { rule: 'not-owner', owner: facts.owner },
      });
    }
    if (facts.procUid !== peer.uid || facts.procGid !== peer.gid) {
      throw new FsidmapError(
        'ERR_BROKER_NAMESPACE',
        `process ${facts.pid} runs as ${facts.procUid}:${facts.procGid}, not as you (${peer.uid}:${peer.gid})`,
        {
          hint: 'as with newuidmap, the process in the namespace must have your uid and gid',
          context: { rule: 'target-owner', pid: facts.pid },
        },
      );
    }
    const limit = this.userLimits(peer).namespaces;
    if (this.o.tracker.count(peer.account.key) >= limit) await this.pruneNamespaces(peer.account.key);
    if (this.o.tracker.count(peer.account.key) >= limit) {
      throw new FsidmapError(
        'ERR_BROKER_LIMIT',
        `${describeAccount(peer)} has ${limit} user namespaces the broker set up still running, its limit`,
        {
          hint: "stop some containers; the limit is set in the broker's --limits file",
          context: { limit: 'namespaces', max: limit },
        },
      );
    }
    const decision = unwrap(
      decideNamespaceMaps(
        await this.view(peer),
        { uid: facts.procUid, gid: facts.procGid, setgroups: facts.setgroups },
        req.uidMap,
        req.gidMap,
        req.setgroups,
      ),
    );
    const target = openTarget(ns.fd, pid.fd, facts, decision.setgroups === 'deny');
    try {
      // Recorded before the maps exist, so that no release ever sees these ids mapped without the record (ledger.ts).
      this.o.ledger?.(ns.fd, facts.ns.ino, { uid: decision.uidText, gid: decision.gidText }, `uid ${peer.uid}, process ${facts.pid}`);
      target.write({ uid: decision.uidText, gid: decision.gidText, setgroups: decision.setgroups === 'deny' ? 'deny' : null });
    } finally {
      target.close();
    }
    ctx.adopt(pid.fd);
    this.o.tracker.track(peer.account.key, facts.ns.ino, pid.fd, nsHandleOf(ns.fd));
    return {
      result: { pid: facts.pid, uidMap: decision.uidText, gidMap: decision.gidText, setgroups: decision.setgroups },
      reason: `wrote uid_map, gid_map (setgroups ${decision.setgroups}) of the user namespace of process ${facts.pid}`,
    };
  }

  private async mount(req: Extract<Request, { op: 'mount' }>, peer: Peer): Promise<HandlerResult> {
    const view = await this.view(peer);
    const maps = unwrap(decideMountMaps(view, unwrap(mountMapsOf(req))));
    const walk = walkPeerPath(req.path, { uid: peer.uid, gid: peer.gid, groups: peer.groups }, (c) =>
      inspectComponent(c, view.owned, peer.uid),
    );
    let holder;
    try {
      holder = await this.o.holders(maps);
      const attrs = (req.readonly ? MOUNT_ATTR_RDONLY : 0) | (req.nosuid ? MOUNT_ATTR_NOSUID : 0) | (req.noexec ? MOUNT_ATTR_NOEXEC : 0);
      const fd = await makeLockedIdmappedMount(walk.fd, holder.nsFd, req.path, { attrs });
      const flags = ['nodev', ...(req.nosuid ? ['nosuid'] : []), ...(req.noexec ? ['noexec'] : []), ...(req.readonly ? ['ro'] : [])];
      return {
        result: { path: req.path, uidMap: formatKernel(maps.uid), gidMap: formatKernel(maps.gid), flags, locked: true, fds: 1 },
        fds: [fd],
        reason: `made a detached idmapped mount of ${req.path} (${flags.join(',')}, flags locked)`,
      };
    } finally {
      closeDescriptor(walk.fd);
      await holder?.release();
    }
  }

  private ranges(): RangeStore {
    if (!this.o.ranges) {
      throw new FsidmapError('ERR_BROKER_NO_REGISTRY', 'this broker has no registry, so it cannot allocate ranges', {
        hint: 'the administrator starts the broker with --db',
      });
    }
    return this.o.ranges;
  }

  private async alloc(req: Extract<Request, { op: 'alloc' }>, peer: Peer): Promise<HandlerResult> {
    const store = this.ranges();
    const l = this.userLimits(peer);
    const existing = (await store.list(ownerOf(peer))).find((a) => a.name === req.name);
    if (!existing) {
      // Counted over the whole account: a subordinate uid of A's allocates out of A's limits.
      const held = await this.accountAllocations(peer);
      const size = req.size ?? 65536;
      const ids = held.reduce((s, a) => s + a.uid.count, 0);
      if (held.length >= l.allocations) {
        throw new FsidmapError('ERR_BROKER_LIMIT', `${describeAccount(peer)} holds ${held.length} allocations, its limit`, {
          hint: 'release one first (fsidmap broker release)',
          context: { limit: 'allocations', max: l.allocations },
        });
      }
      if (ids + size > l.ids) {
        throw new FsidmapError('ERR_BROKER_LIMIT', `allocating ${size} more ids would make ${ids + size}, over your limit of ${l.ids}`, {
          hint: 'release an allocation or ask for fewer ids',
          context: { limit: 'ids', max: l.ids, held: ids, asked: size },
        });
      }
    }
    const { range, created } = await store.allocate(ownerOf(peer), req.name, req.kind, req.size);
    await this.refreshOwned();
    return {
      result: { allocation: range, created },
      reason: `${created ? 'allocated' : 'returned the existing'} ${range.kind} ${range.name}: uids ${range.uid.start}+${range.uid.count}, gids ${range.gid.start}+${range.gid.count}`,
    };
  }

  private async release(req: Extract<Request, { op: 'release' }>, peer: Peer): Promise<HandlerResult> {
    const { heldBy, ...range } = await this.ranges().release(ownerOf(peer), req.name);
    await this.refreshOwned();
    if (heldBy !== undefined) {
      return {
        result: { released: range, held: true, heldBy },
        reason: `released ${range.kind} ${range.name}, held draining: ${heldBy}`,
      };
    }
    return { result: { released: range, held: false }, reason: `released ${range.kind} ${range.name}` };
  }

  /** Frees drained ranges (the server calls it now and then). */
  async reapDrained(): Promise<void> {
    await this.pruneNamespaces();
    await this.o.ranges?.reap();
    await this.refreshOwned();
  }

  private async list(peer: Peer): Promise<HandlerResult> {
    const allocations = await this.ranges().list(ownerOf(peer));
    return { result: { allocations }, reason: `listed ${allocations.length} allocations` };
  }
}

/** A draining range is no longer the peer's to map (it only counts against its limits until nothing maps it). */
function live(list: readonly AllocatedRange[]): AllocatedRange[] {
  return list.filter((a) => a.state === 'allocated');
}

/** The registry owner the broker records for a peer: by uid, which names cannot be reused to take over. */
export function ownerOf(peer: Pick<Peer, 'uid'>): string {
  return `uid:${peer.uid}`;
}

function unwrap<T>(d: Decision<T>): T {
  if (d.ok) return d.value;
  throw new FsidmapError(d.refusal.code, d.refusal.message, { hint: d.refusal.hint, context: d.refusal.context });
}
