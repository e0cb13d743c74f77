import { FsidmapError } from '../errors.js';
import { lstatx } from '../kernel/file/inode.js';
import type { JournalHeader } from './journal-codec.js';
import type { Range, ShiftState } from './journal.js';
import { displayPath, pathListAt } from './path-table.js';
import { type Conflict, type PlanStats, type ShiftPlan, actionAt, planStats, reconcileAction } from './plan.js';
import type { ShiftEngine, TreeProgress } from './types.js';

/**
 * Finishing an interrupted shift from its journal. The rows not known to be
 * done (the last checkpoint's ranges, or all) are read as they are now and
 * each step judged done, still to do, or a conflict (reconcileAction); only
 * the steps still to do are carried out, with the journal's absolute values.
 */
export interface ResumeOptions {
  readonly engine: ShiftEngine;
  readonly sync: boolean;
  readonly checkpointMs: number;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((p: TreeProgress) => void) | undefined;
}

export async function resumeShift(
  root: string,
  header: JournalHeader,
  plan: ShiftPlan,
  state: ShiftState,
  o: ResumeOptions,
): Promise<PlanStats> {
  const rootText = displayPath(root);
  const rootNow = lstatx(Buffer.from(root, 'latin1'));
  if (rootNow.ino !== header.rootIno) {
    throw new FsidmapError(
      'ERR_SHIFT_CONFLICT',
      `${rootText} is not the directory whose shift was interrupted (inode ${rootNow.ino}, journal says ${header.rootIno})`,
      {
        context: { path: rootText },
        hint: 'the interrupted shift cannot be finished here; remove the journal only if you know the tree it belonged to is gone',
      },
    );
  }
  const ranges: Range[] = state.readProgress() ?? [[0, plan.flags.length]];
  const pending: number[] = [];
  for (const [s, e] of ranges) for (let i = s; i < Math.min(e, plan.flags.length); i++) if (plan.flags[i] !== 0) pending.push(i);
  const rows = Uint32Array.from(pending);
  o.onProgress?.({ phase: 'verify', done: 0, total: rows.length });
  const now = await o.engine.probe(root, header.crossFilesystems, plan, rows, o.onProgress);
  o.onProgress?.({ phase: 'verify', done: rows.length, total: rows.length });
  const todoRows: number[] = [],
    todoFlags: number[] = [];
  const conflicts: Array<{ path: string; conflict: Conflict }> = [];
  rows.forEach((i, k) => {
    const r = reconcileAction(actionAt(plan, i), {
      ino: now.ino[k],
      dev: now.dev[k],
      uid: now.uid[k],
      gid: now.gid[k],
      mode: now.mode[k],
      xattrs: now.xattrs.get(k) ?? {},
    });
    if ('conflict' in r) conflicts.push({ path: displayPath(pathListAt(plan.paths, i)) || '.', conflict: r.conflict });
    else if (r.flags !== 0) {
      todoRows.push(i);
      todoFlags.push(r.flags);
    }
  });
  if (conflicts.length > 0) {
    const list = conflicts
      .slice(0, 10)
      .map((c) => `${c.path} (${c.conflict})`)
      .join(', ');
    throw new FsidmapError(
      'ERR_SHIFT_CONFLICT',
      `${conflicts.length} entr${conflicts.length === 1 ? 'y' : 'ies'} of ${rootText} changed since the interrupted shift: ${list}${conflicts.length > 10 ? ', …' : ''}`,
      {
        context: { path: rootText, conflicts: conflicts.slice(0, 100) },
        hint: 'something modified the tree between the runs; nothing was changed by this run',
      },
    );
  }
  await o.engine.apply({
    root,
    plan,
    todo: { rows: Uint32Array.from(todoRows), flags: Uint8Array.from(todoFlags) },
    state,
    crossFilesystems: header.crossFilesystems,
    durable: o.sync,
    checkpointMs: o.checkpointMs,
    signal: o.signal,
    onProgress: o.onProgress,
  });
  return planStats(plan);
}
