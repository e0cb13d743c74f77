import { FsidmapError } from '../../errors.js';
import { syncAll, syncFilesystem } from '../../kernel/inode.js';
import type { EngineChoice } from './engine.js';
import type { ShiftState } from './journal.js';
import { applyNative } from './native-apply.js';
import type { ShiftPlan } from './plan.js';
import type { PoolLease } from './pool-scan.js';
import type { TreeProgress } from './scan.js';

/**
 * Carries out journaled rows, with checkpoints: every `checkpointMs` the
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
  readonly engine: EngineChoice;
  /** The TypeScript engine's thread pool (null with the C engine). */
  readonly lease: PoolLease | null;
  readonly state: ShiftState;
  readonly crossFilesystems: boolean;
  /** syncfs at checkpoints and at the end (power-loss safety); off: kill -9 safety only. */
  readonly durable: boolean;
  readonly checkpointMs: number;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((p: TreeProgress) => void) | undefined;
}

export function interrupted(): FsidmapError {
  return new FsidmapError('ERR_SHIFT_INTERRUPTED', 'the shift was interrupted', {
    hint: 'run the same command again to finish it: it resumes from the journal and shifts nothing twice',
  });
}

/** syncfs (or sync, when crossing mounts) of the tree's filesystem; nothing when not durable. */
export function treeSync(o: Pick<ApplyOptions, 'durable' | 'crossFilesystems' | 'root'>, rootFd: number): void {
  if (!o.durable) return;
  if (o.crossFilesystems) syncAll();
  else syncFilesystem(rootFd, o.root);
}

export async function applyPlan(o: ApplyOptions): Promise<void> {
  if (o.engine.kind === 'native') return applyNative(o, o.engine.engine, o.engine.threads);
  // Loaded only for the TypeScript engine (start-up time).
  const { applyWithPool } = await import('./pool-apply.js');
  return applyWithPool(o);
}
