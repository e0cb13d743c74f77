import type { EngineColumns, TreeEngine } from '../kernel/file/tree-engine.js';
import { type NameTree, displayPath, pathListAt, pathListTree } from './path-table.js';
import type { EntryColumns, EntryXattrs, ShiftPlan } from './plan.js';
import { FsidmapError } from '../errors.js';
import { scanFailure } from './failures.js';
import type { ScanOptions, TreeScan } from './types.js';

/**
 * Scans and probes through the C engine. The engine works in steps of about
 * STEP_MS; between them the event loop runs, so progress is drawn and signals
 * are seen. The result arrives as one block of columns: each entry a name
 * and its directory's row (a NameTree), strings made only for what is reported.
 */
const STEP_MS = 200;

const KEYS: ReadonlyArray<keyof EntryXattrs> = ['aclAccess', 'aclDefault', 'capability'];

export const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function nativeScan(engine: TreeEngine, threads: number, root: string, options: ScanOptions): Promise<TreeScan> {
  const scan = engine.scan(root, options.crossFilesystems ?? false, threads);
  if ('errno' in scan) throw scanFailure({ index: 0, call: scan.call, errno: scan.errno }, '');
  try {
    for (;;) {
      const r = scan.step(STEP_MS);
      if (r.failure) throw scanFailure({ index: 0, call: r.failure.call, errno: r.failure.errno }, r.failure.path);
      options.onProgress?.({ phase: 'scan', done: r.found, total: null });
      if (r.done) break;
      await yieldToLoop();
    }
    const c = scan.result();
    return { ...columnsOf(c), paths: c.paths, locked: Array.from(c.locked), root, rootText: displayPath(root), skippedMounts: c.skipped };
  } finally {
    scan.close();
  }
}

function columnsOf(c: EngineColumns): EntryColumns {
  const xattrs = new Map<number, EntryXattrs>();
  for (const x of c.xattrs) xattrs.set(x.row, { ...xattrs.get(x.row), [KEYS[x.slot]]: x.value });
  return { uid: c.uid, gid: c.gid, mode: c.mode, nlink: c.nlink, ino: c.ino, dev: c.dev, xattrs };
}

/** The entries plan.paths[rows[k]] as they are now (resuming), through the engine. */
export function nativeProbe(
  engine: TreeEngine,
  threads: number,
  root: string,
  crossFilesystems: boolean,
  plan: ShiftPlan,
  rows: Uint32Array,
): EntryColumns {
  const c = engine.probe(root, crossFilesystems, threads, engineNames(plan.paths), rows);
  if ('errno' in c)
    throw scanFailure({ index: 0, call: c.call, errno: c.errno }, c.index >= 0 ? pathListAt(plan.paths, rows[c.index]) : '');
  return columnsOf(c);
}

/** A plan's paths as the engine takes them: names and directory rows (converted once from whole paths of an older journal). */
export function engineNames(paths: ShiftPlan['paths']): NameTree {
  const tree = pathListTree(paths);
  if (tree === null)
    throw new FsidmapError('ERR_SHIFT_JOURNAL_CORRUPT', 'the shift journal names an entry whose directory it does not list', {
      hint: 'the tree may be partly shifted; inspect it with `fsidmap image inspect` before deciding what to do',
    });
  return tree;
}
