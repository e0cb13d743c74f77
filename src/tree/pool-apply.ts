import { closeSync, openSync } from 'node:fs';
import { POSIX_ACL_ACCESS, POSIX_ACL_DEFAULT, SECURITY_CAPABILITY } from '../ownership/xattr-codec.js';
import type { ApplyBatch } from './apply-ops.js';
import { interrupted, scanFailure } from './failures.js';
import type { Range } from './journal.js';
import { buildPathTable, joinRoot, pathListAt } from './path-table.js';
import { ACTION, type ShiftPlan } from './plan.js';
import { BATCH, type PoolLease } from './pool-scan.js';
import { treeSync } from './root.js';
import type { ApplyOptions } from './types.js';
import type { XattrValue } from './scan-ops.js';

/**
 * The TypeScript engine's apply: batches of rows across the worker pool
 * (inline without threads), a timer taking checkpoints. Loaded only when that
 * engine is used.
 */
interface Batch {
  readonly rows: Uint32Array;
  done: number;
}

export async function applyWithPool(o: ApplyOptions, lease: PoolLease): Promise<void> {
  const batches: Array<Batch & { first: number }> = [];
  const total = o.todo.rows.length;
  const pool = lease.get(total);
  for (let s = 0; s < total; s += BATCH) batches.push({ rows: o.todo.rows.subarray(s, s + BATCH), first: s, done: 0 });
  const rootFd = openSync(Buffer.from(o.root, 'latin1'), 'r');
  let completed = 0;
  const report = () =>
    o.onProgress?.({ phase: 'apply', done: completed + batches.reduce((n, b) => n + (b.done < b.rows.length ? b.done : 0), 0), total });
  const checkpoint = () => {
    treeSync(o, rootFd);
    o.state.writeProgress(pendingRanges(batches));
  };
  // Aborted before the first step (e.g. SIGINT while reading): start nothing.
  if (o.signal?.aborted) {
    try {
      checkpoint();
    } finally {
      closeSync(rootFd);
    }
    throw interrupted();
  }
  let timer: NodeJS.Timeout | null = null;
  let failed: unknown = null;
  const stop = new Promise<never>((_, reject) => {
    const onAbort = () => reject(interrupted());
    if (o.signal?.aborted) onAbort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
  });
  stop.catch(() => undefined);
  try {
    // The phase begins: nothing is changed yet (a caller may still look at the tree, or abort).
    report();
    if (o.signal?.aborted) throw interrupted();
    timer = setInterval(() => {
      try {
        checkpoint();
      } catch (e) {
        failed ??= e;
      }
    }, o.checkpointMs);
    const work = batches.map((b) =>
      pool
        .apply(toApplyBatch(o.root, o.plan, b.rows, o.todo.flags.subarray(b.first, b.first + b.rows.length)), (done) => {
          b.done = done;
          report();
        })
        .then((r) => {
          if (r.failure) throw scanFailure(r.failure, pathListAt(o.plan.paths, b.rows[r.failure.index]));
          b.done = b.rows.length;
          completed += b.rows.length;
          report();
        }),
    );
    await Promise.race([Promise.all(work), stop]);
    if (failed) throw failed;
  } catch (e) {
    // Stop the threads first so the checkpoint sees a tree no one is writing.
    await pool.terminate(e instanceof Error ? e : new Error(String(e)));
    clearInterval(timer ?? undefined);
    try {
      checkpoint();
    } catch {
      /* the journal alone still resumes correctly */
    }
    closeSync(rootFd);
    throw e;
  }
  clearInterval(timer);
  o.onProgress?.({ phase: 'sync', done: total, total });
  treeSync(o, rootFd);
  closeSync(rootFd);
}

/** Rows not yet done, as half-open ranges. */
export function pendingRanges(batches: readonly Batch[]): Range[] {
  const out: Array<[number, number]> = [];
  for (const b of batches) {
    for (let k = b.done; k < b.rows.length; k++) {
      const i = b.rows[k];
      const last = out[out.length - 1];
      if (last && last[1] === i) last[1] = i + 1;
      else out.push([i, i + 1]);
    }
  }
  return out;
}

function toApplyBatch(root: string, plan: ShiftPlan, rows: Uint32Array, todoFlags: Uint8Array): ApplyBatch {
  const n = rows.length;
  const flags = new Uint8Array(n),
    uid = new Uint32Array(n),
    gid = new Uint32Array(n),
    mode = new Uint32Array(n);
  const ino = new Float64Array(n),
    dev = new Float64Array(n);
  const xattrs: XattrValue[] = [];
  const paths: string[] = new Array(n);
  for (let k = 0; k < n; k++) {
    const i = rows[k];
    const f = todoFlags[k];
    paths[k] = joinRoot(root, pathListAt(plan.paths, i));
    flags[k] = f;
    ino[k] = plan.ino[i];
    dev[k] = plan.dev[i];
    uid[k] = plan.newUid[i];
    gid[k] = plan.newGid[i];
    mode[k] = plan.mode[i];
    if (f & (ACTION.ACL_ACCESS | ACTION.ACL_DEFAULT | ACTION.CAPABILITY)) {
      const after = plan.after.get(i) ?? {};
      if (f & ACTION.ACL_ACCESS && after.aclAccess) xattrs.push({ i: k, name: POSIX_ACL_ACCESS, value: after.aclAccess });
      if (f & ACTION.ACL_DEFAULT && after.aclDefault) xattrs.push({ i: k, name: POSIX_ACL_DEFAULT, value: after.aclDefault });
      if (f & ACTION.CAPABILITY && after.capability) xattrs.push({ i: k, name: SECURITY_CAPABILITY, value: after.capability });
    }
  }
  return { table: buildPathTable(paths), ino, dev, flags, uid, gid, mode, xattrs };
}
