import { existsSync } from 'node:fs';
import koffi from 'koffi';
import { syscallError } from '../libc.js';
import type { InodeColumns } from '../../ownership/columns.js';
import { envValue, nativePath } from '../../environment.js';

/**
 * The C engine of tree scans and shifts (native/libfsidmap-tree.c, built by
 * scripts/build-native.sh into dist/native/libfsidmap-tree.so), loaded into
 * this process with koffi. It makes the per-entry system calls on a few
 * threads and hands back columns in one block; the TypeScript side plans,
 * journals and reports. When the library was not built, `treeEngine()` is
 * null and callers use the TypeScript path (src/tree/dir-scan-ops.ts,
 * apply-ops.ts).
 *
 * Paths cross as bytes (latin1 strings here), so names that are not UTF-8
 * survive. Failures come back as values naming the call, errno and path.
 */
export interface EngineFailure {
  readonly errno: number;
  readonly call: string;
  /** Relative path (latin1) of the entry the call failed on ('' when the caller names it by row). */
  readonly path: string;
}

/** Rows as names in the directory of another row (a NameTree of src/tree/path-table.ts). */
export interface EngineNames {
  /** Names (one component, '' for the root), NUL-terminated, name i at bytes[offsets[i]]. */
  readonly names: { readonly bytes: Uint8Array; readonly offsets: Uint32Array };
  /** The row of each entry's directory; 0xffffffff for the root. */
  readonly parents: Uint32Array;
}

/** One row per entry: the block fst_cols_take writes, as views. */
export interface EngineColumns extends InodeColumns {
  readonly n: number;
  /** Each entry's name and directory row (a probe's result has none: empty names, parents 0). */
  readonly paths: EngineNames;
  /** Rows that are immutable or append-only. */
  readonly locked: Uint32Array;
  /** Values of the xattrs that hold ids; slot indexes ENGINE_XATTRS. */
  readonly xattrs: ReadonlyArray<{ readonly row: number; readonly slot: number; readonly value: Uint8Array }>;
  /** Relative paths (latin1) of other mounts found below the root and not entered. */
  readonly skipped: string[];
}

export const ENGINE_XATTRS = ['system.posix_acl_access', 'system.posix_acl_default', 'security.capability'] as const;

export interface EngineScan {
  /** Works about budgetMs; done when the walk is complete. */
  step(budgetMs: number): { readonly done: boolean; readonly found: number; readonly failure: EngineFailure | null };
  result(): EngineColumns;
  close(): void;
}

export interface EngineApply {
  /** Carries out rows[k] with the steps todo[k]; null, or the first failure (index into rows). */
  run(rows: Uint32Array, todo: Uint8Array): (EngineFailure & { readonly index: number }) | null;
  close(): void;
}

export interface ApplyColumns {
  readonly paths: EngineNames;
  /** The inode each row was planned for: a row whose path now leads elsewhere fails ('inode check', ESTALE) untouched. dev NaN: ino only. */
  readonly ino: Float64Array;
  readonly dev: Float64Array;
  readonly uid: Uint32Array;
  readonly gid: Uint32Array;
  readonly mode: Uint32Array;
  /** Records u32 row, u8 slot, u32 length, bytes: the values to write. */
  readonly xattrs: Uint8Array;
}

export interface TreeEngine {
  scan(root: string, crossFilesystems: boolean, threads: number): EngineScan | EngineFailure;
  apply(root: string, crossFilesystems: boolean, threads: number, cols: ApplyColumns, syncEveryMs: number): EngineApply | EngineFailure;
  probe(
    root: string,
    crossFilesystems: boolean,
    threads: number,
    paths: EngineNames,
    rows: Uint32Array,
  ): EngineColumns | (EngineFailure & { readonly index: number });
}

const VERSION = 3;
/** Call codes of native/libfsidmap-tree.c; scanFailure (src/tree/scan.ts) words the errors by these names. */
export const ENGINE_CALLS = [
  '?',
  'open',
  'getdents64',
  'statx',
  'listxattr',
  'getxattr',
  'lchown',
  'chmod',
  'lsetxattr',
  'open (parent directory)',
  'open (entry)',
  'inode check',
  'open /proc/self/fd',
] as const;
const CALLS: readonly string[] = ENGINE_CALLS;
/** FSIDMAP_TREE_ENGINE_COMPAT words: the kernel features the C engine then acts as if missing (tests). */
const COMPAT: Record<string, number> = { 'old-kernel': 7, 'no-openat2': 1, 'no-xattrat': 2, 'no-fchmodat2': 4 };

/** Where the library is; FSIDMAP_TREE_ENGINE_LIB overrides it. */
export function treeEnginePath(env: NodeJS.ProcessEnv = process.env): string {
  return nativePath('libfsidmap-tree.so', env, 'FSIDMAP_TREE_ENGINE_LIB');
}

let loaded: TreeEngine | null | undefined;

/** The engine, or null when the library is not built (or is another version). */
export function treeEngine(): TreeEngine | null {
  if (loaded !== undefined) return loaded;
  const path = treeEnginePath();
  loaded = existsSync(path) ? bind(koffi.load(path)) : null;
  return loaded;
}

type Ptr = unknown;

function bind(lib: ReturnType<typeof koffi.load>): TreeEngine | null {
  const version = lib.func('int fst_version(void)') as () => number;
  if (version() !== VERSION) return null;
  // Tests: the fallbacks for kernels without openat2, getxattrat/listxattrat/setxattrat and fchmodat2.
  const compat = (envValue('FSIDMAP_TREE_ENGINE_COMPAT') ?? '')
    .split(',')
    .filter((w) => w !== '')
    .reduce((bits, w) => bits | (COMPAT[w] ?? 0), 0);
  if (compat !== 0) (lib.func('void fst_compat(uint32_t missing)') as (m: number) => void)(compat);
  koffi.opaque('fst_scan');
  koffi.opaque('fst_apply');
  koffi.opaque('fst_cols');
  const scanOpen = lib.func('fst_scan *fst_scan_open(const uint8_t *root, uint32_t flags, int threads, _Out_ int32_t *err)') as (
    r: Buffer,
    f: number,
    t: number,
    e: Int32Array,
  ) => Ptr;
  const scanStep = lib.func('int fst_scan_step(fst_scan *s, int budget, _Out_ uint32_t *found)') as (
    s: Ptr,
    b: number,
    f: Uint32Array,
  ) => number;
  const scanFailure = lib.func('int fst_scan_failure(fst_scan *s, _Out_ int32_t *call, _Out_ uint8_t *path, uint32_t size)') as (
    s: Ptr,
    c: Int32Array,
    p: Buffer,
    n: number,
  ) => number;
  const scanSize = lib.func('uint64_t fst_scan_size(fst_scan *s)') as (s: Ptr) => number | bigint;
  const scanTake = lib.func('int fst_scan_take(fst_scan *s, _Out_ uint8_t *out)') as (s: Ptr, out: Buffer) => number;
  const scanClose = lib.func('void fst_scan_close(fst_scan *s)') as (s: Ptr) => void;
  const applyOpen = lib.func(
    'fst_apply *fst_apply_open(const uint8_t *root, uint32_t flags, int threads, const uint8_t *names, const uint32_t *offs, const uint32_t *parents, uint32_t n, ' +
      'const double *ino, const double *dev, const uint32_t *uid, const uint32_t *gid, const uint32_t *mode, const uint8_t *xattrs, uint32_t xattrBytes, int syncEveryMs, _Out_ int32_t *err)',
  ) as (
    r: Buffer,
    f: number,
    t: number,
    p: Uint8Array,
    o: Uint32Array,
    parents: Uint32Array,
    n: number,
    ino: Float64Array,
    dev: Float64Array,
    u: Uint32Array,
    g: Uint32Array,
    m: Uint32Array,
    x: Uint8Array,
    xb: number,
    s: number,
    e: Int32Array,
  ) => Ptr;
  const applyRun = lib.func(
    'int fst_apply_run(fst_apply *a, const uint32_t *rows, const uint8_t *todo, uint32_t count, _Out_ int32_t *failure)',
  ) as (a: Ptr, rows: Uint32Array, todo: Uint8Array, n: number, f: Int32Array) => number;
  const applyClose = lib.func('void fst_apply_close(fst_apply *a)') as (a: Ptr) => void;
  const probe = lib.func(
    'fst_cols *fst_probe(const uint8_t *root, uint32_t flags, int threads, const uint8_t *names, const uint32_t *offs, const uint32_t *parents, uint32_t n, ' +
      'const uint32_t *rows, uint32_t count, _Out_ int32_t *err, _Out_ int32_t *call, _Out_ int32_t *failed)',
  ) as (
    r: Buffer,
    f: number,
    t: number,
    p: Uint8Array,
    o: Uint32Array,
    parents: Uint32Array,
    n: number,
    rows: Uint32Array,
    count: number,
    e: Int32Array,
    c: Int32Array,
    failed: Int32Array,
  ) => Ptr;
  const colsSize = lib.func('uint64_t fst_cols_size(fst_cols *c)') as (c: Ptr) => number | bigint;
  const colsTake = lib.func('int fst_cols_take(fst_cols *c, _Out_ uint8_t *out)') as (c: Ptr, out: Buffer) => number;
  const colsFree = lib.func('void fst_cols_free(fst_cols *c)') as (c: Ptr) => void;

  const cRoot = (root: string) => Buffer.from(root + '\0', 'latin1');
  const flagsOf = (cross: boolean) => (cross ? 1 : 0);
  const take = (root: string, size: number | bigint, fill: (out: Buffer) => number) => {
    // An ArrayBuffer of its own: the columns are views at multiples of 8 from its start.
    const out = Buffer.from(new ArrayBuffer(Number(size)));
    const r = fill(out);
    // EOVERFLOW: more than 4 GiB of paths or xattr values, which the block counts in 32 bits.
    if (r < 0) throw syscallError('fst_cols_take', root, -r);
    return parseColumns(out);
  };

  return {
    scan(root, cross, threads) {
      const err = new Int32Array(1);
      const s = scanOpen(cRoot(root), flagsOf(cross), threads, err);
      if (s === null) return { errno: -err[0], call: 'open', path: '' };
      let closed = false;
      const found = new Uint32Array(1);
      return {
        step(budgetMs) {
          const r = scanStep(s, Math.max(1, Math.round(budgetMs)), found);
          if (r >= 0) return { done: r === 0, found: found[0], failure: null };
          const call = new Int32Array(1),
            path = Buffer.alloc(4097);
          const errno = scanFailure(s, call, path, path.length) || -r;
          return { done: true, found: found[0], failure: { errno, call: CALLS[call[0]] ?? '?', path: cString(path) } };
        },
        result: () => take(root, scanSize(s), (out) => scanTake(s, out)),
        close() {
          if (!closed) {
            closed = true;
            scanClose(s);
          }
        },
      };
    },
    apply(root, cross, threads, c, syncEveryMs) {
      const err = new Int32Array(2);
      const n = c.paths.parents.length;
      const a = applyOpen(
        cRoot(root),
        flagsOf(cross),
        threads,
        c.paths.names.bytes,
        c.paths.names.offsets,
        c.paths.parents,
        n,
        c.ino,
        c.dev,
        c.uid,
        c.gid,
        c.mode,
        c.xattrs,
        c.xattrs.length,
        syncEveryMs,
        err,
      );
      if (a === null) return { errno: -err[0], call: CALLS[err[1]] ?? '?', path: '' };
      let closed = false;
      const failure = new Int32Array(3);
      return {
        run(rows, todo) {
          if (applyRun(a, rows, todo, rows.length, failure) === 0) return null;
          const index = failure[0];
          return { index, errno: failure[1], call: CALLS[failure[2]] ?? '?', path: '' };
        },
        close() {
          if (!closed) {
            closed = true;
            applyClose(a);
          }
        },
      };
    },
    probe(root, cross, threads, paths, rows) {
      const err = new Int32Array(1),
        call = new Int32Array(1),
        failed = new Int32Array(1);
      const n = paths.parents.length;
      const c = probe(
        cRoot(root),
        flagsOf(cross),
        threads,
        paths.names.bytes,
        paths.names.offsets,
        paths.parents,
        n,
        rows,
        rows.length,
        err,
        call,
        failed,
      );
      if (c === null) return { errno: -err[0], call: CALLS[call[0]] ?? '?', path: '', index: failed[0] };
      try {
        return take(root, colsSize(c), (out) => colsTake(c, out));
      } finally {
        colsFree(c);
      }
    },
  };
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.toString('latin1', 0, end < 0 ? b.length : end);
}

const align8 = (n: number) => (n + 7) & ~7;

/** Views on the block laid out by cols_take (native/libfsidmap-tree.c). */
export function parseColumns(b: Buffer): EngineColumns {
  const [n, pathBytes, xattrBytes, xattrCount, lockedCount, skippedBytes] = [0, 1, 2, 3, 4, 5].map((k) => b.readUInt32LE(4 * k));
  let at = b.byteOffset + 32;
  const f64 = () => {
    const v = new Float64Array(b.buffer, at, n);
    at += 8 * n;
    return v;
  };
  const u32 = (count: number) => {
    const v = new Uint32Array(b.buffer, at, count);
    at += align8(4 * count);
    return v;
  };
  const u8 = (count: number) => {
    const v = new Uint8Array(b.buffer, at, count);
    at += align8(count);
    return v;
  };
  const ino = f64(),
    dev = f64();
  const uid = u32(n),
    gid = u32(n),
    mode = u32(n),
    nlink = u32(n),
    offsets = u32(n + 1),
    parents = u32(n),
    locked = u32(lockedCount);
  const paths = u8(pathBytes),
    xbytes = u8(xattrBytes),
    skippedBytesView = u8(skippedBytes);
  const xattrs: Array<{ row: number; slot: number; value: Uint8Array }> = [];
  const xb = Buffer.from(xbytes.buffer, xbytes.byteOffset, xbytes.byteLength);
  for (let k = 0, p = 0; k < xattrCount; k++) {
    const row = xb.readUInt32LE(p),
      slot = xb[p + 4],
      len = xb.readUInt32LE(p + 5);
    xattrs.push({ row, slot, value: new Uint8Array(xb.subarray(p + 9, p + 9 + len)) });
    p += 9 + len;
  }
  const skipped =
    skippedBytes === 0
      ? []
      : Buffer.from(skippedBytesView.buffer, skippedBytesView.byteOffset, skippedBytes - 1)
          .toString('latin1')
          .split('\0');
  return { n, ino, dev, uid, gid, mode, nlink, paths: { names: { bytes: paths, offsets }, parents }, locked, xattrs, skipped };
}
