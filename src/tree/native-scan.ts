import type { EngineColumns, TreeEngine } from '../kernel/file/tree-engine.js';
import { displayPath, pathListTable } from './path-table.js';
import type { EntryColumns, EntryXattrs, ShiftPlan } from './plan.js';
import { scanFailure } from './failures.js';
import type { ScanOptions, TreeScan } from './types.js';

/**
 * Scans and probes through the C engine. The engine works in steps of about
 * STEP_MS; between them the event loop runs, so progress is drawn and signals
 * are seen. The result arrives as one block of columns: paths stay bytes in
 * a PathTable, and strings are made only for what is reported.
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
  const c = engine.probe(root, crossFilesystems, threads, pathListTable(plan.paths), rows);
  if ('errno' in c) throw scanFailure({ index: 0, call: c.call, errno: c.errno }, c.path);
  return columnsOf(c);
}
