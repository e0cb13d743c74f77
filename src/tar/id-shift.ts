import { FsidmapError, UsageError } from '../errors.js';
import { BulkTranslator, type Direction, type IdMap, INVALID_ID } from '../idmap/index.js';

/**
 * How every id met in an archive is moved: through MAP, whose first column is
 * the id as stored now and whose second is the id it becomes (an idmapped
 * mount's orientation), or the other way round with direction 'up'
 * (--reverse). One policy decides what happens to ids MAP does not cover.
 */
export type IdKind = 'uid' | 'gid';

export type UnmappedPolicy =
  /** Stop with ERR_TAR_UNMAPPED_ID naming the entry and the id (the default). */
  | { readonly kind: 'refuse' }
  /** Leave the id as stored. */
  | { readonly kind: 'keep' }
  /** Write this id instead (e.g. 65534, the overflow id). */
  | { readonly kind: 'replace'; readonly id: number };

/**
 * What uname/gname become. After a shift the names no longer describe the
 * ids, and GNU tar, extracting as root without --numeric-owner, prefers a
 * name that resolves on the host over the id: keeping "root" would undo the
 * shift. 'clear' (the default) empties them so every reader uses the ids;
 * 'keep' leaves them as mmtarfilter --idshift does.
 */
export type NamesPolicy = 'clear' | 'keep';

export interface ShiftOptions {
  /** Map for uids (and for gids unless gidMap is given). */
  readonly map: IdMap;
  readonly gidMap?: IdMap;
  /** 'down' maps first column → second (default); 'up' the reverse. */
  readonly direction?: Direction;
  readonly unmapped?: UnmappedPolicy;
  readonly names?: NamesPolicy;
  /**
   * v1/v2 file capabilities: 'scope' (default) writes them as the kernel
   * stores a v2 value written inside the target namespace (cap_convert_nscap:
   * v3 with rootid MAP(0); v2 still when MAP(0) is 0 or unmapped), so that
   * `tar shift` then `tar -x` as root gives what `tar unpack` inside the
   * namespace gives; 'keep-v2' leaves them v2 (honoured in every namespace).
   */
  readonly capabilities?: CapabilityPolicy;
}

export type CapabilityPolicy = 'scope' | 'keep-v2';

/** Where an id was found, for errors and statistics. */
export interface IdSite {
  readonly path: string;
  readonly where: 'header' | 'pax' | 'global-pax' | 'acl' | 'xattr-acl' | 'capability';
}

export interface IdShiftStats {
  /** Ids translated through the map (including ones that map to themselves). */
  mapped: number;
  /** Unmapped ids left as they were (--unmapped keep). */
  kept: number;
  /** Unmapped ids replaced (--unmapped ID). */
  replaced: number;
}

export class IdShifter {
  readonly names: NamesPolicy;
  readonly unmapped: UnmappedPolicy;
  /** The rootid v1/v2 capabilities get (MAP(0) under 'scope'), or undefined: they stay as they are. */
  readonly v2CapRoot: number | undefined;
  readonly stats: IdShiftStats = { mapped: 0, kept: 0, replaced: 0 };
  private readonly uid: BulkTranslator;
  private readonly gid: BulkTranslator;

  constructor(options: ShiftOptions) {
    const direction = options.direction ?? 'down';
    if (direction !== 'down' && direction !== 'up') throw new UsageError(`direction must be "down" or "up", got "${String(direction)}"`);
    this.unmapped = options.unmapped ?? { kind: 'refuse' };
    if (
      this.unmapped.kind === 'replace' &&
      !(Number.isInteger(this.unmapped.id) && this.unmapped.id >= 0 && this.unmapped.id < INVALID_ID)
    ) {
      throw new UsageError(`the replacement for unmapped ids must be an id between 0 and 4294967294, got ${this.unmapped.id}`);
    }
    this.names = options.names ?? 'clear';
    if (this.names !== 'clear' && this.names !== 'keep')
      throw new UsageError(`names must be "clear" or "keep", got "${String(this.names)}"`);
    const capabilities = options.capabilities ?? 'scope';
    if (capabilities !== 'scope' && capabilities !== 'keep-v2')
      throw new UsageError(`capabilities must be "scope" or "keep-v2", got "${String(capabilities)}"`);
    this.uid = new BulkTranslator(options.map, direction);
    this.v2CapRoot = capabilities === 'scope' ? this.uid.translate(0) : undefined;
    this.gid = options.gidMap && !options.gidMap.equals(options.map) ? new BulkTranslator(options.gidMap, direction) : this.uid;
  }

  /** The id `id` becomes; applies the unmapped policy (and throws under 'refuse'). */
  shift(kind: IdKind, id: number, site: IdSite): number {
    const to = (kind === 'uid' ? this.uid : this.gid).translate(id);
    if (to !== undefined) {
      this.stats.mapped++;
      return to;
    }
    switch (this.unmapped.kind) {
      case 'keep':
        this.stats.kept++;
        return id;
      case 'replace':
        this.stats.replaced++;
        return this.unmapped.id;
      default:
        throw new FsidmapError(
          'ERR_TAR_UNMAPPED_ID',
          `${site.path}: ${kind} ${id} (${describeSite(site.where)}) is not covered by the map`,
          {
            context: { path: site.path, kind, id, where: site.where },
            hint: 'extend the map to cover it (fsidmap image inspect ARCHIVE lists every id), or pass --unmapped keep or --unmapped 65534',
          },
        );
    }
  }

  /** Translation without policy: undefined when unmapped. For fields that readers ignore anyway. */
  tryShift(kind: IdKind, id: number): number | undefined {
    return (kind === 'uid' ? this.uid : this.gid).translate(id);
  }
}

function describeSite(where: IdSite['where']): string {
  switch (where) {
    case 'header':
      return 'header field';
    case 'pax':
      return 'PAX record';
    case 'global-pax':
      return 'global PAX record';
    case 'acl':
      return 'ACL entry';
    case 'xattr-acl':
      return 'ACL xattr entry';
    case 'capability':
      return 'file capability root id';
  }
}
