import { closeSync, openSync } from 'node:fs';
import type { EngineApply, TreeEngine } from '../kernel/file/tree-engine.js';
import { interrupted, scanFailure } from './failures.js';
import { engineNames, yieldToLoop } from './native-scan.js';
import { pathListAt } from './path-table.js';
import type { EntryXattrs, ShiftPlan } from './plan.js';
import { treeSync } from './root.js';
import type { ApplyOptions } from './types.js';

/**
 * Carries out the rows through the C engine, in chunks of about CHUNK_MS so
 * that between them progress is drawn, checkpoints are taken and an abort is
 * seen. The rows of todo are ascending and done in order, chunk by chunk, so
 * "rows before todo.rows[done] are done" holds at every checkpoint: the
 * pending part is [todo.rows[done], rows) (rows in it with nothing to do are
 * skipped on resume).
 *
 * When durable, the engine also syncs the filesystem in the background every
 * SYNC_AHEAD_MS while it works: the final syncfs, which the journal's removal
 * must wait for, then has less left to write. Not more often: on ext4 with a
 * journal each syncfs is a commit, and chowns of inodes in the committing
 * transaction wait for copies of their buffers (measured: 100 ms was slower
 * than none there, 250–300 ms slightly faster; docs/image-tree.md).
 */
const CHUNK_MS = 50;
const SYNC_AHEAD_MS = 250;
const SLOTS: ReadonlyArray<keyof EntryXattrs> = ['aclAccess', 'aclDefault', 'capability'];

export async function applyNative(o: ApplyOptions, engine: TreeEngine, threads: number): Promise<void> {
  const total = o.todo.rows.length;
  const rowCount = o.plan.flags.length;
  // The root fd (syncfs, checkpoints) first: once the engine is open (its background syncfs
  // thread included), nothing may throw before the try below that closes it.
  const rootFd = openSync(Buffer.from(o.root, 'latin1'), 'r');
  let a: EngineApply;
  try {
    const opened = engine.apply(
      o.root,
      o.crossFilesystems,
      threads,
      {
        paths: engineNames(o.plan.paths),
        ino: o.plan.ino,
        dev: o.plan.dev,
        uid: o.plan.newUid,
        gid: o.plan.newGid,
        mode: o.plan.mode,
        xattrs: afterValues(o.plan),
      },
      o.durable ? SYNC_AHEAD_MS : 0,
    );
    if ('errno' in opened) throw scanFailure({ index: 0, call: opened.call, errno: opened.errno }, '');
    a = opened;
  } catch (e) {
    closeSync(rootFd);
    throw e;
  }
  let done = 0;
  const checkpoint = () => {
    treeSync(o, rootFd);
    o.state.writeProgress(done < total ? [[o.todo.rows[done], rowCount]] : []);
  };
  try {
    // The phase begins: nothing is changed yet (a caller may still look at the tree, or abort).
    o.onProgress?.({ phase: 'apply', done: 0, total });
    let chunk = 1024;
    let last = performance.now();
    while (done < total) {
      if (o.signal?.aborted) throw interrupted();
      const end = Math.min(total, done + chunk);
      const t0 = performance.now();
      const f = a.run(o.todo.rows.subarray(done, end), o.todo.flags.subarray(done, end));
      if (f) throw scanFailure({ index: f.index, call: f.call, errno: f.errno }, pathListAt(o.plan.paths, o.todo.rows[done + f.index]));
      done = end;
      // The next chunk sized to take about CHUNK_MS at the rate just seen.
      const ms = performance.now() - t0;
      chunk = Math.max(256, Math.min(1 << 17, Math.round((chunk * CHUNK_MS) / Math.max(ms, 1))));
      o.onProgress?.({ phase: 'apply', done, total });
      if (performance.now() - last >= o.checkpointMs) {
        checkpoint();
        last = performance.now();
      }
      if (done < total) await yieldToLoop();
    }
  } catch (e) {
    a.close();
    try {
      checkpoint();
    } catch {
      /* the journal alone still resumes correctly */
    }
    closeSync(rootFd);
    throw e;
  }
  a.close();
  o.onProgress?.({ phase: 'sync', done: total, total });
  try {
    treeSync(o, rootFd);
  } finally {
    closeSync(rootFd);
  }
}

/** The values to write, as the engine takes them: u32 row, u8 slot, u32 length, bytes. */
function afterValues(plan: ShiftPlan): Uint8Array {
  const parts: Buffer[] = [];
  for (const [row, after] of plan.after) {
    SLOTS.forEach((key, slot) => {
      const v = after[key];
      if (!v) return;
      const head = Buffer.alloc(9);
      head.writeUInt32LE(row, 0);
      head[4] = slot;
      head.writeUInt32LE(v.length, 5);
      parts.push(head, Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    });
  }
  return Buffer.concat(parts);
}
