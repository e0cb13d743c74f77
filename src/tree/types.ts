import type { ShiftState } from './journal.js';
import type { EntryColumns, ShiftPlan, TreeColumns } from './plan.js';

/**
 * The shapes every part of a scan or shift shares, and the one interface
 * both engines implement (engine.ts chooses; native-engine.ts and
 * node-engine.ts carry it out). Nothing here imports an engine, so the
 * engines can import it without a cycle.
 */
export type TreePhase = 'walk' | 'scan' | 'verify' | 'apply' | 'sync';

export interface TreeProgress {
  readonly phase: TreePhase;
  readonly done: number;
  /** Unknown while walking. */
  readonly total: number | null;
}

export interface ScanOptions {
  readonly crossFilesystems?: boolean;
  /**
   * Threads making the calls: for the C engine, how many (default one per
   * core, at most 4); for the TypeScript engine, worker threads (default none).
   */
  readonly workers?: number;
  /** 'native' (the C engine, the default when built) or 'node'; FSIDMAP_TREE_ENGINE too. */
  readonly engine?: TreeEngineKind;
  readonly onProgress?: (p: TreeProgress) => void;
}

export interface TreeScan extends TreeColumns {
  /** Rows of immutable or append-only entries (chattr +i/+a). */
  readonly locked: number[];
  /** The tree's real path as bytes (latin1) and as text. */
  readonly root: string;
  readonly rootText: string;
  readonly skippedMounts: string[];
}

/**
 * Carrying out journaled rows, with checkpoints: every `checkpointMs` the
 * tree's filesystem is synced and the rows still to do are recorded, so a
 * resumed run skips what is known to be on disk. Whatever happens after the
 * last checkpoint is redone on resume, which is harmless: every step sets an
 * absolute value from the journal.
 */
export interface ApplyOptions {
  readonly root: string;
  readonly plan: ShiftPlan;
  /** Rows to carry out, ascending, and the ACTION flags still to do for each. */
  readonly todo: { readonly rows: Uint32Array; readonly flags: Uint8Array };
  readonly state: ShiftState;
  readonly crossFilesystems: boolean;
  /** syncfs at checkpoints and at the end (power-loss safety); off: kill -9 safety only. */
  readonly durable: boolean;
  readonly checkpointMs: number;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((p: TreeProgress) => void) | undefined;
}

/**
 * Which code makes the per-entry system calls of a scan or shift:
 * - 'native': the C engine (native/libfsidmap-tree.c), threads inside it;
 * - 'node': TypeScript through koffi, one call per entry, optionally spread
 *   over worker threads (pool.ts).
 * Both read and write exactly the same things; the C engine is several times
 * faster (docs/image-tree.md) and is used whenever it was built.
 */
export type TreeEngineKind = 'native' | 'node';

/** What a scan or shift asks of an engine. Whoever opens one closes it. */
export interface ShiftEngine {
  readonly kind: TreeEngineKind;
  /** The C engine's threads, or the TypeScript engine's worker threads (0: the calling thread alone). */
  readonly threads: number;
  /** Reads the whole tree at root (its real path, latin1 bytes), one row per entry, the root row 0. */
  scan(root: string, options: ScanOptions): Promise<TreeScan>;
  /** The entries plan.paths[rows[k]] as they are now (resuming), one row per element of rows. */
  probe(
    root: string,
    crossFilesystems: boolean,
    plan: ShiftPlan,
    rows: Uint32Array,
    onProgress: ((p: TreeProgress) => void) | undefined,
  ): Promise<EntryColumns>;
  apply(options: ApplyOptions): Promise<void>;
  close(): Promise<void>;
}
