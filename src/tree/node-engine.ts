import { pathListAt } from './path-table.js';
import { applyWithPool } from './pool-apply.js';
import { PoolLease, scanPaths, scanWithPool } from './pool-scan.js';
import type { ShiftEngine } from './types.js';

/**
 * The TypeScript engine: one koffi call per entry, spread over a pool of
 * worker threads once the tree is large enough to pay for them (pool-scan.ts).
 * The pool lives as long as the engine: one scan, probe and apply share it.
 */
export function nodeEngine(workers: number | undefined): ShiftEngine {
  const lease = new PoolLease(workers);
  return {
    kind: 'node',
    threads: workers ?? 0,
    scan: (root, options) => scanWithPool(root, options, lease),
    probe(root, _crossFilesystems, plan, rows, onProgress) {
      const paths = Array.from(rows, (i) => pathListAt(plan.paths, i));
      return scanPaths(root, paths, lease.get(rows.length), (done) => onProgress?.({ phase: 'verify', done, total: rows.length }));
    },
    apply: (options) => applyWithPool(options, lease),
    close: () => lease.close(),
  };
}
