import { realpathSync } from 'node:fs';
import { FsidmapError } from '../../errors.js';
import { errnoName } from '../../kernel/libc.js';
import { lstatx } from '../../kernel/inode.js';
import { displayPath } from './path-table.js';
import type { TreeColumns } from './plan.js';
import type { PoolLease } from './pool-scan.js';
import type { OpFailure } from './scan-ops.js';
import { type EngineChoice, type TreeEngineKind, chooseEngine } from './engine.js';
import { nativeScan } from './native-scan.js';

/**
 * Reads a whole tree into columns, one row per entry (the root is row 0),
 * through the C engine (native-scan.ts) or the TypeScript one (pool-scan.ts).
 * Entry order follows completion order, not path order; the entries of one
 * directory are consecutive.
 */
export type TreePhase = 'walk' | 'scan' | 'verify' | 'apply' | 'sync';

export interface TreeProgress {
  readonly phase: TreePhase;
  readonly done: number;
  /** Unknown while walking. */
  readonly total: number | null;
}

export interface ScanOptions {
  readonly crossFilesystems?: boolean;
  /**
   * Threads making the calls: for the C engine, how many (default one per
   * core, at most 4); for the TypeScript engine, worker threads (default none).
   */
  readonly workers?: number;
  /** 'native' (the C engine, the default when built) or 'node'; FSIDMAP_TREE_ENGINE too. */
  readonly engine?: TreeEngineKind;
  readonly onProgress?: (p: TreeProgress) => void;
}

export interface TreeScan extends TreeColumns {
  /** Rows of immutable or append-only entries (chattr +i/+a). */
  readonly locked: number[];
  /** The tree's real path as bytes (latin1) and as text. */
  readonly root: string;
  readonly rootText: string;
  readonly skippedMounts: string[];
}

/** The real path of dir, as bytes in a latin1 string. */
export function realRoot(dir: string): string {
  try {
    return (realpathSync(dir, { encoding: 'buffer' }) as Buffer).toString('latin1');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FsidmapError(
      code === 'ENOENT' ? 'ERR_TREE_NOT_FOUND' : `ERR_TREE_${code ?? 'IO'}`,
      `cannot open ${dir}: ${code === 'ENOENT' ? 'no such directory' : (e as Error).message}`,
      { context: { path: dir } },
    );
  }
}

export async function scanTree(dir: string, options: ScanOptions = {}): Promise<TreeScan> {
  return scanRealRoot(realRoot(dir), options, chooseEngine(options.engine, options.workers));
}

/** scanTree for a root already resolved by realRoot (bytes as a latin1 string), with the engine chosen. */
export async function scanRealRoot(root: string, options: ScanOptions, engine: EngineChoice, lease?: PoolLease | null): Promise<TreeScan> {
  if (engine.kind === 'native') {
    checkDirectory(root);
    return nativeScan(engine.engine, engine.threads, root, options);
  }
  // Loaded only for the TypeScript engine: its modules cost start-up time the C engine does not need.
  const { scanWithPool } = await import('./pool-scan.js');
  return scanWithPool(root, options, lease ?? undefined);
}

export function checkDirectory(root: string): ReturnType<typeof lstatx> {
  const rootStat = lstatx(Buffer.from(root, 'latin1'));
  if ((rootStat.mode & 0o170000) !== 0o040000) {
    throw new FsidmapError('ERR_TREE_NOT_DIRECTORY', `${displayPath(root)} is not a directory`, { context: { path: displayPath(root) } });
  }
  return rootStat;
}

export function scanFailure(f: OpFailure, rel: string): FsidmapError {
  const where = displayPath(rel) || '.';
  const name = errnoName(f.errno);
  const changed = 'the tree must not change while fsidmap reads or shifts it: stop what writes to it and run again';
  if (f.call === 'open /proc/self/fd') {
    // The C engine reaches the xattrs of an entry it holds open (O_PATH) through /proc/self/fd.
    return new FsidmapError(
      'ERR_TREE_PROC_MISSING',
      `/proc is not mounted: the extended attributes (ACLs, capabilities) of ${where} cannot be reached safely; nothing was changed there`,
      {
        context: { path: where, syscall: f.call },
        hint: 'mount proc on /proc (mount -t proc proc /proc) and run again: the kernel has no xattr call on an O_PATH descriptor, and reaching the entry by its path again could be redirected',
      },
    );
  }
  if (f.call === 'inode check') {
    // Both engines open each entry once and check it is the planned inode before changing it.
    return new FsidmapError(
      'ERR_TREE_CHANGED',
      `${where} is no longer the inode that was planned (it was replaced, or a directory on the way to it was); it was not changed`,
      {
        context: { path: where, syscall: f.call, errno: name },
        hint: changed,
      },
    );
  }
  if (name === 'ENOENT') {
    return new FsidmapError('ERR_TREE_CHANGED', `${where} vanished while the tree was read`, {
      context: { path: where, syscall: f.call },
      hint: changed,
    });
  }
  // Directories are opened without following symlinks (the C engine: RESOLVE_NO_SYMLINKS and
  // RESOLVE_NO_XDEV on the whole path), entries without following a final one and not across a
  // mount: one that became a symlink, something else or a mount point is refused, never followed.
  if ((name === 'ELOOP' || name === 'ENOTDIR' || name === 'EXDEV') && f.call.startsWith('open')) {
    const now = name === 'EXDEV' ? 'a mount point' : 'a symlink or no directory';
    return new FsidmapError('ERR_TREE_CHANGED', `${where}, or a directory on the way to it, is now ${now}; it was not followed`, {
      context: { path: where, syscall: f.call, errno: name },
      hint: 'the tree must not change while fsidmap reads or shifts it: put the directory back, or check what replaced it',
    });
  }
  return new FsidmapError(`ERR_SYSCALL_${name}`, `${f.call}(${where}) failed: ${name}`, {
    context: { path: where, syscall: f.call, errno: name },
  });
}
