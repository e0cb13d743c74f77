import type { TreeEngine } from '../kernel/file/tree-engine.js';
import { applyNative } from './native-apply.js';
import { nativeProbe, nativeScan } from './native-scan.js';
import { checkDirectory } from './root.js';
import type { ShiftEngine } from './types.js';

/** The C engine (native/libfsidmap-tree.c through kernel/file/tree-engine.ts): threads inside it, nothing to close here. */
export function nativeEngine(engine: TreeEngine, threads: number): ShiftEngine {
  return {
    kind: 'native',
    threads,
    async scan(root, options) {
      checkDirectory(root);
      return nativeScan(engine, threads, root, options);
    },
    async probe(root, crossFilesystems, plan, rows) {
      return nativeProbe(engine, threads, root, crossFilesystems, plan, rows);
    },
    apply: (options) => applyNative(options, engine, threads),
    async close() {
      /* the engine's threads live only inside each call */
    },
  };
}
