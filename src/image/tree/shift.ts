import { accessSync, constants } from 'node:fs';
import { FsidmapError } from '../../errors.js';
import { type IdMap, formatKernel } from '../../idmap/index.js';
import { lstatx } from '../../kernel/inode.js';
import { applyActions } from './apply.js';
import { type JournalHeader } from './journal-codec.js';
import { type DoneRecord, type Range, ShiftState, stateDirFrom } from './journal.js';
import {
  type Conflict, type PlanStats, type ShiftAction, type UnmappedPolicy, type UnmappedRange, planShift, reconcileAction, treeFingerprint,
} from './plan.js';
import { PoolLease, type ScanOptions, type TreeScan, realRoot, scanPaths, scanRealRoot } from './scan.js';
import { displayPath } from './path-table.js';

/**
 * `fsidmap image shift`: moves a tree's ownership through a map, exactly and
 * resumably. The steps: read the tree → plan (refusing, before any change,
 * ids the map does not cover) → write the plan to a journal and fsync it →
 * apply in parallel with synced checkpoints → sync → delete the journal.
 * A run that finds a journal for the tree resumes it instead of planning
 * again, so ids already moved are never moved a second time.
 */
export interface ShiftOptions extends ScanOptions {
  /** Read MAP from the second column to the first. */
  readonly reverse?: boolean;
  readonly dryRun?: boolean;
  readonly unmapped?: UnmappedPolicy;
  /** Where journals live; default FSIDMAP_STATE_DIR or /var/lib/fsidmap. */
  readonly stateDir?: string;
  readonly signal?: AbortSignal;
  /** How often progress is recorded while applying (default 5000 ms). */
  readonly checkpointMs?: number;
  /**
   * Sync the tree's filesystem (syncfs) before each checkpoint and before the
   * journal is dropped, so that even a power loss can be resumed (default
   * true). Without it an interruption of the process (kill -9 included) is
   * still resumed exactly; only a crash of the machine is not covered.
   */
  readonly sync?: boolean;
}

export interface ShiftReport {
  readonly root: string;
  readonly dryRun: boolean;
  /** True when this run finished a shift an earlier run had begun. */
  readonly resumed: boolean;
  /**
   * True when the tree is exactly as the last completed shift with these
   * arguments left it (that run was killed before it could report): nothing
   * was done, as shifting again would shift twice.
   */
  readonly alreadyDone: boolean;
  readonly stats: PlanStats;
  /** Unmapped ids left as they were (--unmapped keep) or set to the overflow id. */
  readonly kept: UnmappedRange[];
  readonly skippedMounts: string[];
  readonly durationMs: number;
}

export async function shiftTree(dir: string, map: IdMap, options: ShiftOptions = {}): Promise<ShiftReport> {
  const started = performance.now();
  const root = realRoot(dir);
  const rootText = displayPath(root);
  const direction = options.reverse ? 'up' : 'down';
  const policy: UnmappedPolicy = options.unmapped ?? { kind: 'refuse' };
  const cross = options.crossFilesystems ?? false;
  const stateDir = stateDirFrom(options.stateDir);
  const wanted: Wanted = { map: formatKernel(map), direction, unmapped: policy, crossFilesystems: cross };
  const lease = new PoolLease(options.workers);
  const finish = (r: Omit<ShiftReport, 'durationMs' | 'root'>): ShiftReport => ({ root: rootText, ...r, durationMs: Math.round(performance.now() - started) });

  if (options.dryRun) {
    try {
      const pending = ShiftState.peek(stateDir, root);
      if (pending) {
        checkSameShift(pending.header, wanted, rootText);
        // The same command would resume the journal, not plan afresh on a half-shifted tree.
        return finish({ dryRun: true, resumed: true, alreadyDone: false, stats: statsOf(pending.actions), kept: [], skippedMounts: [] });
      }
      const scan = await scanRealRoot(root, options, lease);
      if (isAlreadyDone(ShiftState.peekDone(stateDir, root), wanted, scan)) return finish(alreadyDone(scan, true));
      const plan = planShift(scan, map, direction, policy);
      if (!plan.ok) throw refusal(plan, rootText);
      if (plan.actions.length > 0) checkWritable(root, rootText, lockedActions(scan.locked, plan.actions));
      return finish({ dryRun: true, resumed: false, alreadyDone: false, stats: plan.stats, kept: plan.kept, skippedMounts: scan.skippedMounts.map(displayPath) });
    } finally {
      await lease.close();
    }
  }

  const state = ShiftState.open(stateDir, root, rootText);
  try {
    const pending = state.readJournal();
    if (pending) {
      checkSameShift(pending.header, wanted, rootText);
      const stats = await resume(root, pending.header, pending.actions, state, lease, options);
      state.finish(doneRecord(wanted, pending.header.fingerprintAfter));
      return finish({ dryRun: false, resumed: true, alreadyDone: false, stats, kept: [], skippedMounts: [] });
    }
    const scan = await scanRealRoot(root, options, lease);
    if (isAlreadyDone(state.readDone(), wanted, scan)) return finish(alreadyDone(scan, false));
    const plan = planShift(scan, map, direction, policy);
    if (!plan.ok) throw refusal(plan, rootText);
    if (plan.actions.length > 0) checkWritable(root, rootText, lockedActions(scan.locked, plan.actions));
    if (plan.actions.length > 0) {
      const rootStat = lstatx(Buffer.from(root, 'latin1'));
      const header: JournalHeader = {
        version: 1, root: rootText, rootBytes: root, rootIno: rootStat.ino, rootDev: rootStat.dev.major * 2 ** 32 + rootStat.dev.minor,
        ...wanted, created: new Date().toISOString(), actions: plan.actions.length, fingerprintAfter: plan.fingerprintAfter,
      };
      state.writeJournal(header, plan.actions);
      await applyActions({
        root, actions: plan.actions, todo: { index: Uint32Array.from(plan.actions, (_, i) => i), flags: Uint8Array.from(plan.actions, (a) => a.flags) }, pool: lease.get(plan.actions.length), state,
        crossFilesystems: cross, durable: options.sync ?? true, checkpointMs: options.checkpointMs ?? 5000, signal: options.signal, onProgress: options.onProgress,
      });
      state.finish(doneRecord(wanted, plan.fingerprintAfter));
    }
    return finish({ dryRun: false, resumed: false, alreadyDone: false, stats: plan.stats, kept: plan.kept, skippedMounts: scan.skippedMounts.map(displayPath) });
  } finally {
    state.release();
    await lease.close();
  }
}

async function resume(root: string, header: JournalHeader, actions: ShiftAction[], state: ShiftState, lease: PoolLease, options: ShiftOptions): Promise<PlanStats> {
  const rootText = displayPath(root);
  const rootNow = lstatx(Buffer.from(root, 'latin1'));
  if (rootNow.ino !== header.rootIno) {
    throw new FsidmapError('ERR_SHIFT_CONFLICT', `${rootText} is not the directory whose shift was interrupted (inode ${rootNow.ino}, journal says ${header.rootIno})`, {
      context: { path: rootText }, hint: 'the interrupted shift cannot be finished here; remove the journal only if you know the tree it belonged to is gone',
    });
  }
  const ranges: Range[] = state.readProgress() ?? [[0, actions.length]];
  const indexes: number[] = [];
  for (const [s, e] of ranges) for (let i = s; i < e; i++) indexes.push(i);
  const pool = lease.get(indexes.length);
  // Read the pending paths as they are now and keep only the steps still to do.
  const now = await scanPaths(root, indexes.map((i) => actions[i].path), pool, (done) => options.onProgress?.({ phase: 'verify', done, total: indexes.length }));
  const todoIndex: number[] = [], todoFlags: number[] = [];
  const conflicts: Array<{ path: string; conflict: Conflict }> = [];
  indexes.forEach((i, k) => {
    const r = reconcileAction(actions[i], { ino: now.ino[k], uid: now.uid[k], gid: now.gid[k], mode: now.mode[k], xattrs: now.xattrs.get(k) ?? {} });
    if ('conflict' in r) conflicts.push({ path: displayPath(actions[i].path) || '.', conflict: r.conflict });
    else if (r.flags !== 0) { todoIndex.push(i); todoFlags.push(r.flags); }
  });
  if (conflicts.length > 0) {
    const list = conflicts.slice(0, 10).map((c) => `${c.path} (${c.conflict})`).join(', ');
    throw new FsidmapError('ERR_SHIFT_CONFLICT', `${conflicts.length} entr${conflicts.length === 1 ? 'y' : 'ies'} of ${rootText} changed since the interrupted shift: ${list}${conflicts.length > 10 ? ', …' : ''}`, {
      context: { path: rootText, conflicts: conflicts.slice(0, 100) },
      hint: 'something modified the tree between the runs; nothing was changed by this run',
    });
  }
  await applyActions({
    root, actions, todo: { index: Uint32Array.from(todoIndex), flags: Uint8Array.from(todoFlags) }, pool, state, crossFilesystems: header.crossFilesystems, durable: options.sync ?? true, checkpointMs: options.checkpointMs ?? 5000,
    signal: options.signal, onProgress: options.onProgress,
  });
  return statsOf(actions);
}

/**
 * Things that would make the shift fail halfway, found before the journal is
 * written: a read-only mount, and immutable or append-only inodes (chown
 * fails on those with EPERM even for root).
 */
function checkWritable(root: string, rootText: string, locked: readonly string[]): void {
  try {
    accessSync(Buffer.from(root, 'latin1'), constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EROFS') {
      throw new FsidmapError('ERR_TREE_READ_ONLY', `${rootText} is on a read-only mount; nothing was changed`, { context: { path: rootText }, hint: 'remount it read-write first' });
    }
  }
  if (locked.length > 0) {
    const list = locked.slice(0, 10).map((p) => displayPath(p) || '.').join(', ');
    throw new FsidmapError('ERR_TREE_IMMUTABLE', `${locked.length} entr${locked.length === 1 ? 'y is' : 'ies are'} immutable or append-only in ${rootText}: ${list}${locked.length > 10 ? ', …' : ''}; nothing was changed`, {
      context: { path: rootText, locked: locked.slice(0, 100).map(displayPath) },
      hint: 'chown fails on them even for root: clear the attribute with chattr -i / chattr -a, shift, then set it again',
    });
  }
}

function lockedActions(locked: readonly string[], actions: readonly ShiftAction[]): string[] {
  if (locked.length === 0) return [];
  const changing = new Set(actions.map((a) => a.path));
  return locked.filter((p) => changing.has(p));
}

type Wanted = { map: string; direction: 'down' | 'up'; unmapped: UnmappedPolicy; crossFilesystems: boolean };

function doneRecord(w: Wanted, fingerprint: string): DoneRecord {
  return { ...w, finished: new Date().toISOString(), fingerprint };
}

function isAlreadyDone(done: DoneRecord | null, w: Wanted, scan: TreeScan): boolean {
  if (!done) return false;
  const same = done.map === w.map && done.direction === w.direction && JSON.stringify(done.unmapped) === JSON.stringify(w.unmapped) && done.crossFilesystems === w.crossFilesystems;
  return same && done.fingerprint === treeFingerprint(scan, scan.uid, scan.gid);
}

function alreadyDone(scan: TreeScan, dryRun: boolean): Omit<ShiftReport, 'durationMs' | 'root'> {
  const stats = { entries: scan.paths.length, hardLinks: 0, owner: 0, mode: 0, aclAccess: 0, aclDefault: 0, capability: 0, unchanged: scan.paths.length };
  return { dryRun, resumed: false, alreadyDone: true, stats, kept: [], skippedMounts: scan.skippedMounts.map(displayPath) };
}

function statsOf(actions: readonly ShiftAction[]): PlanStats {
  const count = (bit: number) => actions.filter((a) => a.flags & bit).length;
  return { entries: actions.length, hardLinks: 0, owner: count(1), mode: count(2), aclAccess: count(4), aclDefault: count(8), capability: count(16), unchanged: 0 };
}

function checkSameShift(h: JournalHeader, wanted: Wanted, rootText: string): void {
  const same = h.map === wanted.map && h.direction === wanted.direction && JSON.stringify(h.unmapped) === JSON.stringify(wanted.unmapped) && h.crossFilesystems === wanted.crossFilesystems;
  if (same) return;
  throw new FsidmapError('ERR_SHIFT_PENDING', `an interrupted shift of ${rootText} (begun ${h.created}) is pending with other arguments`, {
    context: { path: rootText, pending: { map: h.map.trim().split('\n'), direction: h.direction, unmapped: h.unmapped, crossFilesystems: h.crossFilesystems } },
    hint: `finish it first: run the same command as then (map ${h.map.trim().split('\n').join(', ')}${h.direction === 'up' ? ', --reverse' : ''}${h.unmapped.kind !== 'refuse' ? `, --unmapped ${h.unmapped.kind === 'keep' ? 'keep' : h.unmapped.id}` : ''}${h.crossFilesystems ? ', --cross-filesystems' : ''})`,
  });
}

function refusal(plan: { unmapped: UnmappedRange[]; duplicates: Array<{ path: string; tag: string; id: number }> }, rootText: string): FsidmapError {
  if (plan.unmapped.length > 0) {
    const list = plan.unmapped.slice(0, 12).map((r) =>
      `${r.kind} ${r.end - r.start === 1 ? r.start : `${r.start}-${r.end - 1}`} (${r.where}, ${r.entries} entr${r.entries === 1 ? 'y' : 'ies'}, e.g. ${displayPath(r.example) || '.'})`).join('; ');
    return new FsidmapError('ERR_SHIFT_UNMAPPED', `MAP does not cover ids found in ${rootText}: ${list}${plan.unmapped.length > 12 ? '; …' : ''}; nothing was changed`, {
      context: { path: rootText, unmapped: plan.unmapped.map((r) => ({ ...r, example: displayPath(r.example) })) },
      hint: 'extend MAP to cover them, or pass --unmapped keep (leave them) or --unmapped ID (set them to ID, e.g. 65534)',
    });
  }
  const d = plan.duplicates[0];
  return new FsidmapError('ERR_SHIFT_ACL_DUPLICATE', `the shift would give ${displayPath(d.path) || '.'} two ACL ${d.tag} entries for id ${d.id}; nothing was changed`, {
    context: { path: rootText, duplicates: plan.duplicates.slice(0, 100).map((x) => ({ ...x, path: displayPath(x.path) })) },
    hint: 'two ids of that ACL map to one id (often --unmapped ID): cover them in MAP instead',
  });
}
