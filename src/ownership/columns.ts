/**
 * What a scan reads of each entry's inode, one row per entry, as typed
 * arrays (they cross threads and the C engine's boundary without copying).
 * Declared once: the C engine's block (kernel/file/tree-engine.ts), the
 * TypeScript engine's batches (tree/scan-ops.ts, tree/dir-scan-ops.ts) and
 * the plan (tree/plan.ts) all extend it.
 */
export interface InodeColumns {
  readonly uid: Uint32Array;
  readonly gid: Uint32Array;
  /** st_mode with the type bits. */
  readonly mode: Uint32Array;
  readonly nlink: Uint32Array;
  readonly ino: Float64Array;
  /** st_dev, major · 2^32 + minor. */
  readonly dev: Float64Array;
}

/** n zeroed rows of each column: what a scan fills in. */
export function newInodeColumns(n: number): InodeColumns {
  return {
    uid: new Uint32Array(n),
    gid: new Uint32Array(n),
    mode: new Uint32Array(n),
    nlink: new Uint32Array(n),
    ino: new Float64Array(n),
    dev: new Float64Array(n),
  };
}
