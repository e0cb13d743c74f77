/**
 * Many paths in one buffer, each NUL-terminated, so a batch crosses to a
 * worker thread as one transferable buffer and each system call gets a view
 * (no per-path allocation in the hot loop).
 */
export interface PathTable {
  readonly bytes: Uint8Array;
  /** Start of path i; its NUL is at offsets[i + 1] - 1. Length count + 1. */
  readonly offsets: Uint32Array;
}

/** Builds a table from latin1 strings (one char per byte). */
export function buildPathTable(paths: readonly string[]): PathTable {
  const offsets = new Uint32Array(paths.length + 1);
  let at = 0;
  for (let i = 0; i < paths.length; i++) {
    offsets[i] = at;
    at += paths[i].length + 1;
  }
  offsets[paths.length] = at;
  const joined = paths.join('\0') + '\0';
  const bytes = new Uint8Array(at);
  Buffer.from(bytes.buffer, 0, at).write(joined, 'latin1');
  return { bytes, offsets };
}

export function pathCount(t: PathTable): number {
  return t.offsets.length - 1;
}

/** Path i as a NUL-terminated Buffer view (no copy). */
export function pathAt(t: PathTable, i: number): Buffer {
  return Buffer.from(t.bytes.buffer, t.bytes.byteOffset + t.offsets[i], t.offsets[i + 1] - t.offsets[i]);
}

/** Path i as text for messages. */
export function pathText(t: PathTable, i: number): string {
  return Buffer.from(t.bytes.buffer, t.bytes.byteOffset + t.offsets[i], t.offsets[i + 1] - t.offsets[i] - 1).toString('utf8');
}

/**
 * Tree paths are latin1 strings: one char per byte of the name, so names that
 * are not UTF-8 survive and `Buffer.from(path, 'latin1')` gives the kernel its
 * bytes back. This turns one into readable text.
 */
export function displayPath(latin1: string): string {
  return Buffer.from(latin1, 'latin1').toString('utf8');
}

/** Absolute path bytes (latin1) of a relative path under root. */
export function joinRoot(root: string, rel: string): string {
  return rel === '' ? root : root === '/' ? '/' + rel : root + '/' + rel;
}

/**
 * The paths of a scan or plan: an array of latin1 strings (the TypeScript
 * scan), or a PathTable (the C engine's block), which saves making 10^5
 * strings that only error messages would read.
 */
export type PathList = readonly string[] | PathTable;

function isTable(p: PathList): p is PathTable {
  return !Array.isArray(p);
}

export function pathListLength(p: PathList): number {
  return isTable(p) ? p.offsets.length - 1 : p.length;
}

/** Path i (latin1). */
export function pathListAt(p: PathList, i: number): string {
  if (!isTable(p)) return p[i];
  return Buffer.from(p.bytes.buffer, p.bytes.byteOffset + p.offsets[i], p.offsets[i + 1] - p.offsets[i] - 1).toString('latin1');
}

/** The paths as a PathTable (the table itself when it is one). */
export function pathListTable(p: PathList): PathTable {
  return isTable(p) ? p : buildPathTable(p);
}
