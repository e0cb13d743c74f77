import { FsidmapError } from '../errors.js';
import { type AllocKind, type Allocation, type Holder, SHARED_OWNER, checkKind, checkName, countOf, isOnDisk } from './allocation.js';
import { DEFAULT_POOL, type Pool, SLOT, checkSize, poolOf } from './pool.js';

/**
 * An allocation request as callers write it. Optional fields left undefined
 * mean "whatever the default is, or whatever the existing allocation has";
 * that is what makes `alloc NAME` idempotent.
 */
export interface AllocRequest {
  readonly name: string;
  readonly realm?: string;
  readonly kind?: AllocKind;
  /** Ids per side; a multiple of 65536. Default 65536. */
  readonly size?: number;
  /** For a container: the image or volume its fsid map points at. */
  readonly fs?: string | null;
  readonly owner?: string | null;
  /** Carve out of this allocation instead of the pool (nested containers). */
  readonly parent?: string | null;
  readonly uidPool?: Pool;
  readonly gidPool?: Pool;
  readonly holder?: Holder | null;
}

/** A request validated once, with its defaults filled in. */
export interface NormalizedRequest {
  readonly name: string;
  readonly realm: string;
  readonly kind: AllocKind;
  readonly size: number;
  readonly sizeGiven: boolean;
  readonly fs: string | null | undefined;
  readonly owner: string | null | undefined;
  readonly parent: string | null;
  readonly uidPool: Pool;
  readonly gidPool: Pool;
  readonly holder: Holder | null;
}

export const DEFAULT_REALM = 'default';

export function normalizeRequest(req: AllocRequest): NormalizedRequest {
  const kind = checkKind(req.kind ?? 'container');
  const name = checkName(req.name);
  const realm = checkName(req.realm ?? DEFAULT_REALM, 'realm');
  if (req.fs != null) {
    checkName(req.fs, '--fs');
    if (kind !== 'container')
      throw new FsidmapError('ERR_USAGE', `--fs applies to containers only, not to ${kind} "${name}"`, { context: { name, kind } });
    if (req.fs === name) throw new FsidmapError('ERR_USAGE', `container "${name}" cannot use itself as --fs`, { context: { name } });
  }
  if (req.parent != null) {
    checkName(req.parent, '--parent');
    if (req.uidPool || req.gidPool)
      throw new FsidmapError('ERR_USAGE', '--pool and --parent exclude each other: a child is carved out of its parent', {
        context: { name },
      });
  }
  if (req.owner != null) checkName(req.owner, '--owner');
  if (req.holder && kind !== 'container')
    throw new FsidmapError('ERR_USAGE', `only containers have holders, not ${kind} "${name}"`, { context: { name, kind } });
  const uidPool = req.uidPool ?? req.gidPool ?? DEFAULT_POOL;
  return {
    name,
    realm,
    kind,
    size: checkSize(req.size ?? SLOT),
    sizeGiven: req.size !== undefined,
    fs: req.fs,
    owner: req.owner,
    parent: req.parent ?? null,
    uidPool,
    gidPool: req.gidPool ?? uidPool,
    holder: req.holder ?? null,
  };
}

/** The owner a new allocation records: on-disk ranges default to "shared", containers to none. */
export function ownerFor(req: NormalizedRequest): string | null {
  if (req.owner !== undefined) return req.owner;
  return isOnDisk(req.kind) ? SHARED_OWNER : null;
}

/**
 * Idempotence: an existing allocation satisfies a request that asks for
 * nothing it lacks. Another kind is ERR_NAME_TAKEN; the same kind with an
 * explicitly different size, fs, owner or parent is ERR_ALLOC_CONFLICT
 * (returning it silently would hand out something other than was asked).
 * A request with a holder is refused while another holder still runs.
 */
export function checkExisting(a: Allocation, req: NormalizedRequest, holderGone = false): void {
  const ctx = { name: a.name, realm: a.realm, kind: a.kind };
  if (a.kind !== req.kind) {
    throw new FsidmapError('ERR_NAME_TAKEN', `"${a.name}" is already allocated as ${article(a.kind)}, not ${article(req.kind)}`, {
      hint: `choose another name, or release the ${a.kind} first (fsidmap release ${a.name})`,
      context: { ...ctx, requested: req.kind },
    });
  }
  const differs: string[] = [];
  if (req.sizeGiven && countOf(a.uid) !== req.size) differs.push(`size ${countOf(a.uid)} (asked ${req.size})`);
  if (req.fs !== undefined && req.fs !== a.fs) differs.push(`fs ${a.fs ?? 'none'} (asked ${req.fs ?? 'none'})`);
  if (req.owner !== undefined && req.owner !== a.owner) differs.push(`owner ${a.owner ?? 'none'} (asked ${req.owner ?? 'none'})`);
  if (req.parent !== null && req.parent !== a.parent) differs.push(`parent ${a.parent ?? 'none'} (asked ${req.parent})`);
  if (differs.length > 0) {
    throw new FsidmapError('ERR_ALLOC_CONFLICT', `${a.kind} "${a.name}" already exists with ${differs.join(', ')}`, {
      hint: `use it as it is, or release it first (fsidmap release ${a.name})`,
      context: { ...ctx, differs },
    });
  }
  // A holder that is gone (its process died, the machine rebooted) hands over to the new one.
  if (req.holder && a.holder && !sameHolder(a.holder, req.holder) && !holderGone) {
    throw new FsidmapError('ERR_ALLOC_HELD', `container "${a.name}" is held by pid ${a.holder.pid} on ${a.holder.host}`, {
      hint: 'if that process is gone, fsidmap gc releases its allocation',
      context: { ...ctx, holder: a.holder },
    });
  }
}

export function sameHolder(a: Holder, b: Holder): boolean {
  return a.pid === b.pid && a.startTime === b.startTime && a.bootId === b.bootId && a.machineId === b.machineId;
}

/** --fs must name an on-disk range the container's owner may use. */
export function checkFsTarget(req: NormalizedRequest, target: Allocation | undefined): void {
  if (req.fs == null) return;
  if (!target) {
    throw new FsidmapError('ERR_FS_NOT_FOUND', `--fs "${req.fs}" is not allocated in realm ${req.realm}`, {
      hint: `allocate it first: fsidmap alloc ${req.fs} --kind image`,
      context: { fs: req.fs, realm: req.realm },
    });
  }
  if (!isOnDisk(target.kind)) {
    throw new FsidmapError('ERR_FS_INVALID', `--fs "${req.fs}" is a ${target.kind}; it must be an image or a volume`, {
      context: { fs: req.fs, kind: target.kind },
    });
  }
  const owner = ownerFor(req);
  if (target.owner !== SHARED_OWNER && target.owner !== owner) {
    throw new FsidmapError(
      'ERR_FS_OWNER',
      `${target.kind} "${target.name}" belongs to ${target.owner}; container "${req.name}" is owned by ${owner ?? 'nobody'}`,
      {
        hint: `give the container --owner ${target.owner}, or use a shared ${target.kind}`,
        context: { fs: target.name, fsOwner: target.owner, owner },
      },
    );
  }
}

/** Pools of a child: exactly its parent's ranges. */
export function childPools(req: NormalizedRequest, parent: Allocation | undefined): { uidPool: Pool; gidPool: Pool } {
  if (!parent) {
    throw new FsidmapError('ERR_PARENT_NOT_FOUND', `--parent "${req.parent}" is not allocated in realm ${req.realm}`, {
      context: { parent: req.parent, realm: req.realm },
    });
  }
  if (parent.kind !== 'container') {
    throw new FsidmapError('ERR_PARENT_INVALID', `--parent "${parent.name}" is a ${parent.kind}; children are carved out of containers`, {
      context: { parent: parent.name, kind: parent.kind },
    });
  }
  const grow = `allocate ${parent.name} again with a larger --size`;
  return {
    uidPool: poolOf([parent.uid], `uid range of ${parent.name} ${parent.uid.start}:${countOf(parent.uid)}`, { anchored: true, grow }),
    gidPool: poolOf([parent.gid], `gid range of ${parent.name} ${parent.gid.start}:${countOf(parent.gid)}`, { anchored: true, grow }),
  };
}

/** A range cannot go while a container's fsid map points at it or children are carved from it. */
export function checkReleasable(a: Allocation, users: readonly Allocation[], children: readonly Allocation[]): void {
  if (users.length === 0 && children.length === 0) return;
  const parts: string[] = [];
  if (users.length > 0) parts.push(`used as --fs by ${users.map((u) => u.name).join(', ')}`);
  if (children.length > 0) parts.push(`parent of ${children.map((c) => c.name).join(', ')}`);
  throw new FsidmapError('ERR_RANGE_REFERENCED', `${a.kind} "${a.name}" is ${parts.join(' and ')}`, {
    hint: `release ${[...users, ...children].map((u) => u.name).join(', ')} first`,
    context: { name: a.name, referencedBy: users.map((u) => u.name), children: children.map((c) => c.name) },
  });
}

/** "a container", "an image", "a volume". */
function article(kind: string): string {
  return `${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind}`;
}
