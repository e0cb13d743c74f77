import type { AllocKind, AllocRequest, Allocation, Draining, Exclusions, Holder, RandomSource, Range } from '../alloc/index.js';

/**
 * The registry contract: what every store (SQLite, PostgreSQL) offers, and
 * what the shared contract suite (contract-suite.ts) checks against both.
 * Callers use `Registry`; stores implement `Store`, the few primitives the
 * shared logic in registry.ts needs inside one transaction.
 */
export interface RegistryInfo {
  readonly store: 'sqlite' | 'postgres';
  /** File path or URL with the password removed. */
  readonly location: string;
  readonly schemaVersion: number;
  /** Opened read-only (openRegistry({ readOnly: true })): every write is refused with ERR_DB_READ_ONLY. */
  readonly readOnly: boolean;
}

export interface AllocateOptions {
  /** Host ids not to hand out (reserved ranges, real users and groups, subordinate ranges). */
  readonly exclusions: Exclusions;
  /** Defaults to the kernel's CSPRNG; tests inject a seeded source. */
  readonly random?: RandomSource;
  /**
   * A secret key for first placement (homeIndex): the home slot of a name is
   * then unpredictable to whoever lacks the key (the broker's, so users
   * cannot aim at each other's ranges). Default: the public hash.
   */
  readonly placementKey?: Uint8Array;
  /** Whether a recorded holder is gone (so a new holder may take the allocation over); default: never. */
  readonly holderGone?: (holder: Holder) => boolean;
}

export interface AllocateResult {
  readonly allocation: Allocation;
  /** False when the name already existed and was returned as it is. */
  readonly created: boolean;
  readonly via: 'hash' | 'random' | 'existing';
}

/**
 * The kernel's truth about this machine, for releases: whether any user
 * namespace here still maps some id of a range (a census of /proc taken
 * just before, src/userns-census). Without one, a release frees the range
 * at once — only right where no namespace can map it (tests, other hosts'
 * registries edited by hand).
 */
export interface MappedCheck {
  readonly bootId: string;
  readonly machineId: string;
  /** Why the range is still mapped here (for people), or null when nothing maps it. */
  mappedBy(a: Allocation): string | null;
}

export interface ReleaseOptions {
  readonly realm?: string;
  /** Keep the range draining while this says it is mapped. */
  readonly mapped?: MappedCheck;
  /** Release only if the allocation is still held by exactly this holder (garbage collection). */
  readonly expectHolder?: Holder;
}

export interface ListFilter {
  readonly realm?: string;
  readonly kind?: AllocKind;
  /** Only draining allocations (true) or only live ones (false). */
  readonly draining?: boolean;
}

/** What a release did: freed the range, or left it draining because something still maps it. */
export type Released = Allocation & { readonly heldBy?: string };

export interface ReapResult {
  /** Draining allocations whose ranges are free now, removed. */
  readonly freed: Allocation[];
  /** Still mapped here, with why. */
  readonly held: { allocation: Allocation; heldBy: string }[];
  /** Draining on other machines, which only those can judge. */
  readonly elsewhere: number;
}

export interface References {
  /** Containers whose fsid map points at this range (--fs). */
  readonly users: Allocation[];
  /** Allocations carved out of this one (--parent). */
  readonly children: Allocation[];
}

export interface Registry {
  readonly info: RegistryInfo;
  /** Returns the existing allocation of the name, or makes one. Idempotent. */
  allocate(request: AllocRequest, options: AllocateOptions): Promise<AllocateResult>;
  /**
   * Removes an allocation; ERR_RANGE_REFERENCED while containers or children
   * use it. With options.mapped, a range some user namespace here still maps
   * is kept instead, draining (the result has `draining` and `heldBy`);
   * releasing a draining one checks again.
   */
  release(name: string, options?: ReleaseOptions): Promise<Released>;
  /** Removes the realm's draining allocations of this machine that nothing maps any more (and those of an earlier boot). */
  reap(mapped: MappedCheck, realm?: string): Promise<ReapResult>;
  get(name: string, realm?: string): Promise<Allocation | undefined>;
  list(filter?: ListFilter): Promise<Allocation[]>;
  /** Allocations of the realm whose uid or gid range holds the host id. */
  containing(id: number, realm?: string): Promise<Allocation[]>;
  references(name: string, realm?: string): Promise<References>;
  /** Records (or clears) the process holding a container's range. */
  setHolder(name: string, holder: Holder | null, realm?: string): Promise<Allocation>;
  /**
   * An opaque value that differs from the previous call's whenever an
   * allocation was added or removed or changed holder in between (by this
   * connection or any other, on any realm), unless a holder went back to
   * what it was; it may also differ when nothing changed. Cheap with
   * 100,000 allocations: watchers poll it (fsidmap serve).
   */
  changeStamp(): Promise<string>;
  close(): Promise<void>;
}

/** A stored row: an Allocation plus the keys the store uses. */
export interface AllocationRow extends Allocation {
  readonly realmId: number;
  /** -realmId for top-level allocations, the parent's id for children: overlap is forbidden within a scope. */
  readonly scopeKey: number;
}

export interface NewAllocation {
  readonly realmId: number;
  /** Names of the realm, the parent and the fs target, for the returned row (the ids are what is stored). */
  readonly realm: string;
  readonly parent: string | null;
  readonly fs: string | null;
  readonly name: string;
  readonly kind: AllocKind;
  readonly owner: string | null;
  readonly scopeKey: number;
  readonly parentId: number | null;
  readonly fsId: number | null;
  readonly uid: Range;
  readonly gid: Range;
  readonly holder: Holder | null;
  readonly createdAt: string;
}

/** The primitives of one store inside one transaction. */
export interface StoreTx {
  realmId(name: string, create: boolean): Promise<number | undefined>;
  byName(realmId: number, name: string): Promise<AllocationRow | undefined>;
  /** Takes the scope's chooser lock (creating its row) and returns its generation. */
  lockScope(key: number): Promise<number>;
  /** The scope's generation now; the schema's triggers bump it on every insert and delete in the scope. */
  generationOf(key: number): Promise<number>;
  scopeRanges(key: number): Promise<{ uid: Range; gid: Range }[]>;
  insert(row: NewAllocation): Promise<AllocationRow>;
  remove(id: number): Promise<void>;
  users(id: number): Promise<AllocationRow[]>;
  children(id: number): Promise<AllocationRow[]>;
  setHolder(id: number, holder: Holder | null): Promise<void>;
  /** Marks a row draining, or (null) live again. */
  setDraining(id: number, draining: Draining | null): Promise<void>;
}

export interface Store {
  readonly info: RegistryInfo;
  /**
   * Runs fn in one write transaction (all or nothing, serialised against
   * other writers of the same scope). A store may run fn again after a
   * conflict it can retry (PostgreSQL serialization failures), so fn must
   * only touch the database through tx.
   */
  write<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  get(realm: string, name: string): Promise<AllocationRow | undefined>;
  list(filter: ListFilter): Promise<AllocationRow[]>;
  containing(realm: string, id: number): Promise<AllocationRow[]>;
  changeStamp(): Promise<string>;
  close(): Promise<void>;
}
