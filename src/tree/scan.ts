import { openEngine } from './engine.js';
import { realRoot } from './root.js';
import type { ScanOptions, TreeScan } from './types.js';

/**
 * Reads a whole tree into columns, one row per entry (the root is row 0),
 * through the chosen engine. Entry order follows completion order, not path
 * order; the entries of one directory are consecutive.
 */
export type { ScanOptions, TreeScan, TreeProgress, TreePhase } from './types.js';

export async function scanTree(dir: string, options: ScanOptions = {}): Promise<TreeScan> {
  const root = realRoot(dir);
  const engine = await openEngine(options.engine, options.workers);
  try {
    return await engine.scan(root, options);
  } finally {
    await engine.close();
  }
}
