import { accessSync, constants } from 'node:fs';
import { FsidmapError, UsageError } from '../errors.js';
import { type IdMap, formatKernel } from '../idmap/index.js';
import { openEngine } from './engine.js';
import { type JournalHeader } from './journal-codec.js';
import { type DoneRecord, ShiftState, stateDirFrom } from './journal.js';
import { displayPath, pathListAt, pathListLength } from './path-table.js';
import {
  type CapabilityPolicy,
  type PlanStats,
  type ShiftPlan,
  type UnmappedPolicy,
  type UnmappedRange,
  planShift,
  planStats,
  treeFingerprint,
} from './plan.js';
import { resumeShift } from './resume.js';
import { realRoot } from './root.js';
import type { ScanOptions, TreeProgress, TreeScan } from './types.js';

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
  /** v1/v2 file capabilities: 'scope' (default, as the kernel namespaces them) or 'keep-v2' (see CapabilityPolicy). */
  readonly capabilities?: CapabilityPolicy;
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
  /** Which engine made the calls, and with how many threads (the TypeScript engine: worker threads). */
  readonly engine: { readonly kind: 'native' | 'node'; readonly threads: number };
  /** Where the time went: ms per phase (scan, plan, journal, verify, apply, sync, finish) that ran. */
  readonly phasesMs: Readonly<Record<string, number>>;
  /** Size of the journal this run wrote (0 when it wrote none: nothing to do, a dry run, or a resume). */
  readonly journalBytes: number;
}

/** Times phases: each enter() closes the one before. */
class PhaseClock {
  private current: string | null = null;
  private since = 0;
  private readonly ms: Record<string, number> = {};

  get phase(): string | null {
    return this.current;
  }

  enter(phase: string | null): void {
    const now = performance.now();
    if (this.current !== null) this.ms[this.current] = (this.ms[this.current] ?? 0) + now - this.since;
    this.current = phase;
    this.since = now;
  }

  totals(): Record<string, number> {
    this.enter(this.current);
    return Object.fromEntries(Object.entries(this.ms).map(([k, v]) => [k, Math.round(v)]));
  }
}

export async function shiftTree(dir: string, map: IdMap, options: ShiftOptions = {}): Promise<ShiftReport> {
  const started = performance.now();
  const root = realRoot(dir);
  const rootText = displayPath(root);
  const direction = options.reverse ? 'up' : 'down';
  const policy: UnmappedPolicy = options.unmapped ?? { kind: 'refuse' };
  const cross = options.crossFilesystems ?? false;
  const stateDir = stateDirFrom(options.stateDir);
  const capabilities = options.capabilities ?? 'scope';
  if (capabilities !== 'scope' && capabilities !== 'keep-v2')
    throw new UsageError(`capabilities must be "scope" or "keep-v2", got "${String(capabilities)}"`);
  const wanted: Wanted = { map: formatKernel(map), direction, unmapped: policy, crossFilesystems: cross, capabilities };
  const engine = await openEngine(options.engine, options.workers);
  const clock = new PhaseClock();
  const engineInfo = { kind: engine.kind, threads: engine.threads };
  let journalBytes = 0;
  const finish = (r: Omit<ShiftReport, 'durationMs' | 'root' | 'engine' | 'phasesMs' | 'journalBytes'>): ShiftReport => {
    const phasesMs = clock.totals();
    return { root: rootText, ...r, durationMs: Math.round(performance.now() - started), engine: engineInfo, phasesMs, journalBytes };
  };
  const onProgress = (p: TreeProgress) => {
    if (p.phase !== clock.phase) clock.enter(p.phase);
    options.onProgress?.(p);
  };
  const scanOptions = { ...options, onProgress };

  if (options.dryRun) {
    try {
      const pending = ShiftState.peek(stateDir, root);
      if (pending) {
        checkSameShift(pending.header, wanted, rootText);
        // The same command would resume the journal, not plan afresh on a half-shifted tree.
        return finish({ dryRun: true, resumed: true, alreadyDone: false, stats: planStats(pending.plan), kept: [], skippedMounts: [] });
      }
      clock.enter('scan');
      const scan = await engine.scan(root, scanOptions);
      clock.enter('plan');
      if (isAlreadyDone(ShiftState.peekDone(stateDir, root), wanted, scan)) return finish(alreadyDone(scan, true));
      const planned = planShift(scan, map, direction, policy, capabilities);
      if (!planned.ok) throw refusal(planned, rootText);
      if (planned.todo.rows.length > 0) checkWritable(root, rootText, lockedChanging(scan, planned.plan));
      return finish({
        dryRun: true,
        resumed: false,
        alreadyDone: false,
        stats: planned.stats,
        kept: planned.kept,
        skippedMounts: scan.skippedMounts.map(displayPath),
      });
    } finally {
      await engine.close();
    }
  }

  const state = ShiftState.open(stateDir, root, rootText);
  const applying = { engine, sync: options.sync ?? true, checkpointMs: options.checkpointMs ?? 5000, signal: options.signal, onProgress };
  try {
    const pending = state.readJournal();
    if (pending) {
      checkSameShift(pending.header, wanted, rootText);
      const stats = await resumeShift(root, pending.header, pending.plan, state, applying);
      clock.enter('finish');
      state.finish(doneRecord(wanted, pending.header.fingerprintAfter));
      return finish({ dryRun: false, resumed: true, alreadyDone: false, stats, kept: [], skippedMounts: [] });
    }
    clock.enter('scan');
    const scan = await engine.scan(root, scanOptions);
    clock.enter('plan');
    if (isAlreadyDone(state.readDone(), wanted, scan)) return finish(alreadyDone(scan, false));
    const planned = planShift(scan, map, direction, policy, capabilities);
    if (!planned.ok) throw refusal(planned, rootText);
    const { plan } = planned;
    const { todo } = planned;
    if (todo.rows.length > 0) {
      checkWritable(root, rootText, lockedChanging(scan, plan));
      const header: JournalHeader = {
        version: 1,
        root: rootText,
        rootBytes: root,
        rootIno: scan.ino[0],
        rootDev: scan.dev[0],
        ...wanted,
        created: new Date().toISOString(),
        actions: plan.flags.length,
        fingerprintAfter: planned.fingerprintAfter,
      };
      // The whole plan is on disk before the first change: the invariant every resume rests on.
      clock.enter('journal');
      journalBytes = state.writeJournal(header, plan);
      clock.enter('apply');
      await engine.apply({
        root,
        plan,
        todo,
        state,
        crossFilesystems: cross,
        durable: applying.sync,
        checkpointMs: applying.checkpointMs,
        signal: options.signal,
        onProgress,
      });
      clock.enter('finish');
      state.finish(doneRecord(wanted, planned.fingerprintAfter));
    }
    return finish({
      dryRun: false,
      resumed: false,
      alreadyDone: false,
      stats: planned.stats,
      kept: planned.kept,
      skippedMounts: scan.skippedMounts.map(displayPath),
    });
  } finally {
    state.release();
    await engine.close();
  }
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
      throw new FsidmapError('ERR_TREE_READ_ONLY', `${rootText} is on a read-only mount; nothing was changed`, {
        context: { path: rootText },
        hint: 'remount it read-write first',
      });
    }
  }
  if (locked.length > 0) {
    const list = locked
      .slice(0, 10)
      .map((p) => displayPath(p) || '.')
      .join(', ');
    throw new FsidmapError(
      'ERR_TREE_IMMUTABLE',
      `${locked.length} entr${locked.length === 1 ? 'y is' : 'ies are'} immutable or append-only in ${rootText}: ${list}${locked.length > 10 ? ', …' : ''}; nothing was changed`,
      {
        context: { path: rootText, locked: locked.slice(0, 100).map(displayPath) },
        hint: 'chown fails on them even for root: clear the attribute with chattr -i / chattr -a, shift, then set it again',
      },
    );
  }
}

/** Immutable or append-only entries that the plan would change. */
function lockedChanging(scan: TreeScan, plan: ShiftPlan): string[] {
  return scan.locked.filter((i) => plan.flags[i] !== 0).map((i) => pathListAt(scan.paths, i));
}

type Wanted = {
  map: string;
  direction: 'down' | 'up';
  unmapped: UnmappedPolicy;
  crossFilesystems: boolean;
  capabilities: CapabilityPolicy;
};

function doneRecord(w: Wanted, fingerprint: string): DoneRecord {
  return { ...w, finished: new Date().toISOString(), fingerprint };
}

function isAlreadyDone(done: DoneRecord | null, w: Wanted, scan: TreeScan): boolean {
  if (!done) return false;
  const same =
    done.map === w.map &&
    done.direction === w.direction &&
    JSON.stringify(done.unmapped) === JSON.stringify(w.unmapped) &&
    done.crossFilesystems === w.crossFilesystems &&
    (done.capabilities ?? 'keep-v2') === w.capabilities;
  return same && done.fingerprint === treeFingerprint(scan, scan.uid, scan.gid);
}

function alreadyDone(scan: TreeScan, dryRun: boolean): Omit<ShiftReport, 'durationMs' | 'root' | 'engine' | 'phasesMs' | 'journalBytes'> {
  const n = pathListLength(scan.paths);
  const stats = { entries: n, hardLinks: 0, owner: 0, mode: 0, aclAccess: 0, aclDefault: 0, capability: 0, unchanged: n };
  return { dryRun, resumed: false, alreadyDone: true, stats, kept: [], skippedMounts: scan.skippedMounts.map(displayPath) };
}

/** The journal keeps MAP as the kernel prints it ("%10u %10u %10u" lines); a hint shows it as one would type it: 0:100000:65536[,…]. */
function typedMap(kernelText: string): string {
  return kernelText
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).join(':'))
    .join(',');
}

function checkSameShift(h: JournalHeader, wanted: Wanted, rootText: string): void {
  const same =
    h.map === wanted.map &&
    h.direction === wanted.direction &&
    JSON.stringify(h.unmapped) === JSON.stringify(wanted.unmapped) &&
    h.crossFilesystems === wanted.crossFilesystems &&
    (h.capabilities ?? 'keep-v2') === wanted.capabilities;
  if (same) return;
  throw new FsidmapError('ERR_SHIFT_PENDING', `an interrupted shift of ${rootText} (begun ${h.created}) is pending with other arguments`, {
    context: {
      path: rootText,
      pending: {
        map: h.map.trim().split('\n'),
        direction: h.direction,
        unmapped: h.unmapped,
        crossFilesystems: h.crossFilesystems,
        capabilities: h.capabilities ?? 'keep-v2',
      },
    },
    hint: `finish it first: run the same command as then (fsidmap image shift ${rootText} ${typedMap(h.map)}${h.direction === 'up' ? ' --reverse' : ''}${h.unmapped.kind !== 'refuse' ? ` --unmapped ${h.unmapped.kind === 'keep' ? 'keep' : h.unmapped.id}` : ''}${h.crossFilesystems ? ' --cross-filesystems' : ''}${(h.capabilities ?? 'keep-v2') === 'keep-v2' ? ' --keep-v2-caps' : ''})`,
  });
}

function refusal(
  plan: { unmapped: UnmappedRange[]; duplicates: Array<{ path: string; tag: string; id: number }> },
  rootText: string,
): FsidmapError {
  if (plan.unmapped.length > 0) {
    const list = plan.unmapped
      .slice(0, 12)
      .map(
        (r) =>
          `${r.kind} ${r.end - r.start === 1 ? r.start : `${r.start}-${r.end - 1}`} (${r.where}, ${r.entries} entr${r.entries === 1 ? 'y' : 'ies'}, e.g. ${displayPath(r.example) || '.'})`,
      )
      .join('; ');
    return new FsidmapError(
      'ERR_SHIFT_UNMAPPED',
      `MAP does not cover ids found in ${rootText}: ${list}${plan.unmapped.length > 12 ? '; …' : ''}; nothing was changed`,
      {
        context: { path: rootText, unmapped: plan.unmapped.map((r) => ({ ...r, example: displayPath(r.example) })) },
        hint: 'extend MAP to cover them, or pass --unmapped keep (leave them) or --unmapped ID (set them to ID, e.g. 65534)',
      },
    );
  }
  const d = plan.duplicates[0];
  return new FsidmapError(
    'ERR_SHIFT_ACL_DUPLICATE',
    `the shift would give ${displayPath(d.path) || '.'} two ACL ${d.tag} entries for id ${d.id}; nothing was changed`,
    {
      context: { path: rootText, duplicates: plan.duplicates.slice(0, 100).map((x) => ({ ...x, path: displayPath(x.path) })) },
      hint: 'two ids of that ACL map to one id (often --unmapped ID): cover them in MAP instead',
    },
  );
}
