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
 * Entries as names in the directory of another row, the C engine's form: row
 * i is names[i] inside the directory of row parents[i] (NO_PARENT for the
 * root, whose name is ''). A row costs the same at any depth; whole paths
 * are made only for messages, the TypeScript engine and old journals.
 */
export interface NameTree {
  /** The names, one component each ('' for the root), as a table. */
  readonly names: PathTable;
  readonly parents: Uint32Array;
}

export const NO_PARENT = 0xffffffff;

/**
 * The paths of a scan or plan: an array of latin1 strings (the TypeScript
 * scan), a PathTable of whole paths (journals before version 5), or a
 * NameTree (the C engine's scan, journals of version 5), which saves making
 * 10^5 strings that only error messages would read.
 */
export type PathList = readonly string[] | PathTable | NameTree;

function isTree(p: PathList): p is NameTree {
  return !Array.isArray(p) && 'parents' in p;
}

function isTable(p: PathList): p is PathTable {
  return !Array.isArray(p) && !('parents' in p);
}

export function pathListLength(p: PathList): number {
  return isTree(p) ? p.parents.length : isTable(p) ? p.offsets.length - 1 : (p as readonly string[]).length;
}

function nameAt(t: PathTable, i: number): string {
  return Buffer.from(t.bytes.buffer, t.bytes.byteOffset + t.offsets[i], t.offsets[i + 1] - t.offsets[i] - 1).toString('latin1');
}

/** Path i (latin1). */
export function pathListAt(p: PathList, i: number): string {
  if (isTree(p)) {
    const parts: string[] = [];
    // Bounded by the row count, so a damaged tree cannot loop here.
    for (let at = i, k = 0; at !== 0 && at !== NO_PARENT && k <= p.parents.length; at = p.parents[at], k++) parts.push(nameAt(p.names, at));
    return parts.reverse().join('/');
  }
  if (isTable(p)) return nameAt(p, i);
  return (p as readonly string[])[i];
}

/** Every path (latin1), in row order: a directory's path is made once and reused by its entries when it comes first (scan order). */
export function pathListAll(p: PathList): string[] {
  const n = pathListLength(p);
  if (!isTree(p)) return Array.from({ length: n }, (_, i) => pathListAt(p, i));
  const out: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const up = p.parents[i];
    if (i === 0 || up === NO_PARENT) out[i] = i === 0 ? '' : nameAt(p.names, i);
    else if (up < i) out[i] = up === 0 ? nameAt(p.names, i) : out[up] + '/' + nameAt(p.names, i);
    else out[i] = pathListAt(p, i);
  }
  return out;
}

/** The paths as a PathTable of whole paths (the table itself when it is one). */
export function pathListTable(p: PathList): PathTable {
  if (isTable(p)) return p;
  return buildPathTable(isTree(p) ? pathListAll(p) : (p as readonly string[]));
}

/**
 * The paths as a NameTree (the tree itself when it is one): each path split
 * at its last '/', its directory found among the rows. Null when a
 * directory is not a row (the list is not a whole scan).
 */
export function pathListTree(p: PathList): NameTree | null {
  if (isTree(p)) return p;
  const n = pathListLength(p);
  const rowOf = new Map<string, number>();
  const names: string[] = new Array(n);
  const parents = new Uint32Array(n);
  const all = Array.from({ length: n }, (_, i) => pathListAt(p, i));
  all.forEach((path, i) => rowOf.set(path, i));
  for (let i = 0; i < n; i++) {
    const path = all[i];
    if (path === '') {
      names[i] = '';
      parents[i] = NO_PARENT;
      continue;
    }
    const slash = path.lastIndexOf('/');
    const up = rowOf.get(slash < 0 ? '' : path.slice(0, slash));
    if (up === undefined) return null;
    names[i] = path.slice(slash + 1);
    parents[i] = up;
  }
  return { names: buildPathTable(names), parents };
}
