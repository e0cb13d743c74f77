import type { IdMap } from '../idmap/index.js';
import type { DelegationFacts } from './peer-view.js';

/**
 * What the broker's operations need from the rest of fsidmap, as small
 * interfaces: the host's delegation files (src/host, src/policy), the range
 * registry (src/registry), and user-namespace holders (src/kernel). The
 * CLI wires the real ones (wiring.ts); tests may wire others.
 */

/** The host's delegation files (accounts, /etc/subuid, /etc/subgid, login.defs), read afresh for each request. */
export interface DelegationSource {
  facts(): DelegationFacts;
  /** passwd name of uid, or null. */
  userName(uid: number): string | null;
}

export interface AllocatedRange {
  /** The name the peer gave (without the broker's owner prefix). */
  readonly name: string;
  readonly kind: 'container' | 'image' | 'volume';
  readonly uid: { readonly start: number; readonly count: number };
  readonly gid: { readonly start: number; readonly count: number };
  readonly createdAt: string;
  /** "draining": released, but a user namespace on the host still maps it; it is nobody's to use and nobody else's to get until none does. */
  readonly state: 'allocated' | 'draining';
}

/** A release's answer: freed, or held draining and why. */
export type ReleasedRange = AllocatedRange & { readonly heldBy?: string };

/** Registry allocations made for peers; owner is the broker's name for the peer ("user:NAME" or "uid:N"). */
export interface RangeStore {
  allocate(
    owner: string,
    name: string,
    kind: AllocatedRange['kind'],
    size: number | null,
  ): Promise<{ range: AllocatedRange; created: boolean }>;
  release(owner: string, name: string): Promise<ReleasedRange>;
  /** The owner's allocations, draining ones included (they count against the owner's limits). */
  list(owner: string): Promise<AllocatedRange[]>;
  /** Every allocation the broker made, with its owner ("uid:N"), for counting limits per account. */
  all(): Promise<(AllocatedRange & { readonly owner: string })[]>;
  /** Frees the draining ranges nothing on the host maps any more; returns how many are still held. */
  reap(): Promise<{ freed: number; held: number }>;
  close(): Promise<void>;
}

/** A user namespace held by a process, with maps written; used for the maps of an idmapped mount. */
export interface MapHolder {
  readonly nsFd: number;
  release(): Promise<void>;
}

export type MapHolderFactory = (maps: { uid: IdMap; gid: IdMap }) => Promise<MapHolder>;
