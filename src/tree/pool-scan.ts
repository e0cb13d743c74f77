import { newInodeColumns } from '../ownership/index.js';
import type { DirScanResult } from './dir-scan-ops.js';
import { buildPathTable, displayPath, joinRoot } from './path-table.js';
import type { EntryXattrs, TreeColumns } from './plan.js';
import { TreePool } from './pool.js';
import { POSIX_ACL_ACCESS, POSIX_ACL_DEFAULT } from '../ownership/xattr-codec.js';
import { scanFailure } from './failures.js';
import { checkDirectory } from './root.js';
import type { ScanOptions, TreeScan } from './types.js';

/**
 * The TypeScript engine's scan: directories are handed out to the pool in
 * groups; each thread lists them, stats their entries and reads the xattrs
 * that hold ids, and sends back the subdirectories it found, which go into
 * the queue again. Loaded only when that engine is used.
 */
export const BATCH = 4096;
const INLINE_BELOW = 3000;

/**
 * Threads by default: none. Measured on the 2-core ext4 machine this was built
 * on (docs/image-tree.md), one thread making the calls was as fast as two or
 * four: statx from two threads took as long per thread for half the paths as
 * one thread for all of them, and chown gained at most 1.2x while the other
 * core was busy. FSIDMAP_WORKERS / the workers option turn threads on for
 * filesystems and machines where they pay.
 */
export function defaultWorkers(_entries: number): number {
  return 0;
}

/**
 * The pool of one scan or shift, started on first need: as soon as the walk
 * has seen enough entries to be worth threads, so they boot while the walk
 * goes on. Whoever creates the lease closes it.
 */
export class PoolLease {
  private pool: TreePool | null;
  private readonly inline = new TreePool(0);

  constructor(workers?: number) {
    this.pool = workers === undefined ? null : new TreePool(workers);
  }

  /** The pool to use now: inline until the tree is known to be large. */
  current(): TreePool {
    return this.pool ?? this.inline;
  }

  /** Starts the threads once `entries` makes them worth it; they boot while work goes on. */
  warm(entries: number): void {
    if (this.pool === null && entries >= INLINE_BELOW) this.pool = new TreePool(defaultWorkers(entries));
  }

  get(entries: number): TreePool {
    this.warm(entries);
    return this.current();
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }

  async terminate(reason: Error): Promise<void> {
    await this.pool?.terminate(reason);
  }
}

/** The TypeScript engine: directories handed out to the pool (inline without threads). */
export async function scanWithPool(root: string, options: ScanOptions, pools: PoolLease): Promise<TreeScan> {
  const rootStat = checkDirectory(root);
  // The root entry itself, read by path; then everything below it, by directory.
  const first = await scanPaths(root, [''], pools.current());
  const parts: DirScanResult[] = [];
  const skippedMounts: string[] = [];
  const queue: string[] = [''];
  const locked: number[] = [];
  // Crossing mounts, a bind mount of an ancestor would make the walk endless: read each directory once.
  const seenDirs = new Set<string>();
  let found = 1;
  let inflight = 0;
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const pump = () => {
      if (failed) return;
      const pool = pools.current();
      const slots = Math.max(1, pool.size);
      while (queue.length > 0 && inflight < slots) {
        // Enough directories to keep a thread busy a few ms, few enough to share the rest.
        const take = Math.max(1, Math.min(64, Math.ceil(queue.length / slots)));
        const dirs = queue.splice(queue.length - take, take);
        inflight++;
        pool
          .dirs({ root, dirs, rootMount: rootStat.mntId, crossFilesystems: options.crossFilesystems ?? false })
          .then((r) => {
            inflight--;
            if (r.failure) throw scanFailure({ index: 0, call: r.failure.call, errno: r.failure.errno }, r.failure.path);
            parts.push(r);
            // Rows follow the order of parts (concatColumns): this part starts at row `found`.
            for (const i of r.locked) locked.push(found + i);
            found += r.paths.length;
            r.subdirs.forEach((d, k) => {
              if (options.crossFilesystems) {
                if (seenDirs.has(r.subdirKeys[k])) return;
                seenDirs.add(r.subdirKeys[k]);
              }
              queue.push(d);
            });
            for (const m of r.skippedMounts) skippedMounts.push(m);
            pools.warm(found);
            options.onProgress?.({ phase: 'scan', done: found, total: null });
            if (queue.length === 0 && inflight === 0) resolve();
            else pump();
          })
          .catch((e) => {
            failed = true;
            reject(e);
          });
      }
    };
    pump();
  });
  return { ...concatColumns(first, parts), root, rootText: displayPath(root), skippedMounts, locked };
}

function concatColumns(first: TreeColumns & { paths: readonly string[] }, parts: readonly DirScanResult[]): TreeColumns {
  const n = first.paths.length + parts.reduce((k, p) => k + p.paths.length, 0);
  const paths: string[] = new Array(n);
  const { uid, gid, mode, nlink, ino, dev } = newInodeColumns(n);
  const xattrs = new Map<number, EntryXattrs>(first.xattrs);
  let at = 0;
  const add = (p: {
    paths: readonly string[];
    uid: Uint32Array;
    gid: Uint32Array;
    mode: Uint32Array;
    nlink: Uint32Array;
    ino: Float64Array;
    dev: Float64Array;
  }) => {
    for (let k = 0; k < p.paths.length; k++) paths[at + k] = p.paths[k];
    uid.set(p.uid, at);
    gid.set(p.gid, at);
    mode.set(p.mode, at);
    nlink.set(p.nlink, at);
    ino.set(p.ino, at);
    dev.set(p.dev, at);
  };
  add(first);
  at += first.paths.length;
  for (const p of parts) {
    add(p);
    for (const x of p.xattrs) setXattr(xattrs, at + x.i, x.name, x.value);
    at += p.paths.length;
  }
  return { paths, uid, gid, mode, nlink, ino, dev, xattrs };
}

function setXattr(into: Map<number, EntryXattrs>, i: number, name: string, value: Uint8Array): void {
  const key = name === POSIX_ACL_ACCESS ? 'aclAccess' : name === POSIX_ACL_DEFAULT ? 'aclDefault' : 'capability';
  into.set(i, { ...into.get(i), [key]: value });
}

/** Stats and xattrs of the given relative paths, in batches across the pool. */
export async function scanPaths(
  root: string,
  paths: readonly string[],
  pool: TreePool,
  onProgress?: (done: number) => void,
): Promise<TreeColumns & { paths: readonly string[] }> {
  const n = paths.length;
  const { uid, gid, mode, nlink, ino, dev } = newInodeColumns(n);
  const xattrs = new Map<number, EntryXattrs>();
  let done = 0;
  const batches: Promise<void>[] = [];
  for (let start = 0; start < n; start += BATCH) {
    const end = Math.min(n, start + BATCH);
    const table = buildPathTable(paths.slice(start, end).map((p) => joinRoot(root, p)));
    batches.push(
      pool.scan(table).then((b) => {
        if (b.failure) throw scanFailure(b.failure, paths[start + b.failure.index]);
        uid.set(b.uid, start);
        gid.set(b.gid, start);
        mode.set(b.mode, start);
        nlink.set(b.nlink, start);
        ino.set(b.ino, start);
        dev.set(b.dev, start);
        for (const x of b.xattrs) setXattr(xattrs, start + x.i, x.name, x.value);
        done += end - start;
        onProgress?.(done);
      }),
    );
  }
  await Promise.all(batches);
  return { paths, uid, gid, mode, nlink, ino, dev, xattrs };
}
