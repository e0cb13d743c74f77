import { closeSync, openSync } from 'node:fs';
import { FsidmapError } from '../../errors.js';
import { syncAll, syncFilesystem } from '../../kernel/inode.js';
import { ACL_ACCESS_XATTR, ACL_DEFAULT_XATTR, CAPABILITY_XATTR } from '../xattr-codec.js';
import type { ApplyBatch } from './apply-ops.js';
import type { ShiftState, Range } from './journal.js';
import { buildPathTable } from './path-table.js';
import { ACTION, type ShiftAction } from './plan.js';
import type { TreePool } from './pool.js';
import { BATCH, type TreeProgress, scanFailure } from './scan.js';
import type { XattrValue } from './scan-ops.js';
import { joinRoot } from './path-table.js';

/**
 * Carries out journaled actions across the pool, with checkpoints: every
 * `checkpointMs` the tree's filesystem is synced and the ranges still to do
 * are recorded, so a resumed run skips what is known to be on disk. Whatever
 * happens after the last checkpoint is redone on resume, which is harmless:
 * every step sets an absolute value from the journal.
 */
export interface ApplyOptions {
  readonly root: string;
  readonly actions: readonly ShiftAction[];
  /** Journal indexes to carry out, and the ACTION flags still to do for each. */
  readonly todo: { readonly index: Uint32Array; readonly flags: Uint8Array };
  readonly pool: TreePool;
  readonly state: ShiftState;
  readonly crossFilesystems: boolean;
  /** syncfs at checkpoints and at the end (power-loss safety); off: kill -9 safety only. */
  readonly durable: boolean;
  readonly checkpointMs: number;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((p: TreeProgress) => void) | undefined;
}

interface Batch {
  readonly indexes: number[];
  done: number;
}

export async function applyActions(o: ApplyOptions): Promise<void> {
  const batches: Array<Batch & { first: number }> = [];
  const total = o.todo.index.length;
  for (let s = 0; s < total; s += BATCH) batches.push({ indexes: Array.from(o.todo.index.subarray(s, s + BATCH)), first: s, done: 0 });
  const rootFd = openSync(Buffer.from(o.root, 'latin1'), 'r');
  let completed = 0;
  const report = () => o.onProgress?.({ phase: 'apply', done: completed + batches.reduce((n, b) => n + (b.done < b.indexes.length ? b.done : 0), 0), total });
  const sync = () => { if (o.durable) { if (o.crossFilesystems) syncAll(); else syncFilesystem(rootFd, o.root); } };
  const checkpoint = () => {
    sync();
    o.state.writeProgress(pendingRanges(batches));
  };
  let timer: NodeJS.Timeout | null = null;
  let failed: unknown = null;
  const stop = new Promise<never>((_, reject) => {
    const onAbort = () => reject(new FsidmapError('ERR_SHIFT_INTERRUPTED', 'the shift was interrupted', {
      hint: 'run the same command again to finish it: it resumes from the journal and shifts nothing twice',
    }));
    if (o.signal?.aborted) onAbort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
  });
  stop.catch(() => undefined);
  try {
    timer = setInterval(() => { try { checkpoint(); } catch (e) { failed ??= e; } }, o.checkpointMs);
    const work = batches.map((b) => o.pool.apply(toApplyBatch(o.root, o.actions, b.indexes, o.todo.flags.subarray(b.first, b.first + b.indexes.length)), (done) => { b.done = done; report(); }).then((r) => {
      if (r.failure) throw scanFailure(r.failure, o.actions[b.indexes[r.failure.index]].path);
      b.done = b.indexes.length;
      completed += b.indexes.length;
      report();
    }));
    await Promise.race([Promise.all(work), stop]);
    if (failed) throw failed;
  } catch (e) {
    // Stop the threads first so the checkpoint sees a tree no one is writing.
    await o.pool.terminate(e instanceof Error ? e : new Error(String(e)));
    clearInterval(timer ?? undefined);
    try { checkpoint(); } catch { /* the journal alone still resumes correctly */ }
    closeSync(rootFd);
    throw e;
  }
  clearInterval(timer);
  o.onProgress?.({ phase: 'sync', done: total, total });
  sync();
  closeSync(rootFd);
}

/** Journal indexes not yet done, as half-open ranges. */
export function pendingRanges(batches: readonly Batch[]): Range[] {
  const out: Array<[number, number]> = [];
  for (const b of batches) {
    for (let k = b.done; k < b.indexes.length; k++) {
      const i = b.indexes[k];
      const last = out[out.length - 1];
      if (last && last[1] === i) last[1] = i + 1;
      else out.push([i, i + 1]);
    }
  }
  return out;
}

function toApplyBatch(root: string, actions: readonly ShiftAction[], indexes: number[], todoFlags: Uint8Array): ApplyBatch {
  const n = indexes.length;
  const flags = new Uint8Array(n), uid = new Uint32Array(n), gid = new Uint32Array(n), mode = new Uint32Array(n);
  const xattrs: XattrValue[] = [];
  const paths: string[] = new Array(n);
  for (let k = 0; k < n; k++) {
    const a = actions[indexes[k]];
    const f = todoFlags[k];
    paths[k] = joinRoot(root, a.path);
    flags[k] = f;
    uid[k] = a.newUid;
    gid[k] = a.newGid;
    mode[k] = a.mode;
    if (f & ACTION.ACL_ACCESS && a.after.aclAccess) xattrs.push({ i: k, name: ACL_ACCESS_XATTR, value: a.after.aclAccess });
    if (f & ACTION.ACL_DEFAULT && a.after.aclDefault) xattrs.push({ i: k, name: ACL_DEFAULT_XATTR, value: a.after.aclDefault });
    if (f & ACTION.CAPABILITY && a.after.capability) xattrs.push({ i: k, name: CAPABILITY_XATTR, value: a.after.capability });
  }
  return { table: buildPathTable(paths), flags, uid, gid, mode, xattrs };
}
