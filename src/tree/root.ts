import { realpathSync } from 'node:fs';
import { FsidmapError } from '../errors.js';
import { lstatx, syncAll, syncFilesystem } from '../kernel/file/inode.js';
import { displayPath } from './path-table.js';
import type { ApplyOptions } from './types.js';

/** The tree's root: resolved once, checked to be a directory, and synced as a whole. */

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

export function checkDirectory(root: string): ReturnType<typeof lstatx> {
  const rootStat = lstatx(Buffer.from(root, 'latin1'));
  if ((rootStat.mode & 0o170000) !== 0o040000) {
    throw new FsidmapError('ERR_TREE_NOT_DIRECTORY', `${displayPath(root)} is not a directory`, { context: { path: displayPath(root) } });
  }
  return rootStat;
}

/** syncfs (or sync, when crossing mounts) of the tree's filesystem; nothing when not durable. */
export function treeSync(o: Pick<ApplyOptions, 'durable' | 'crossFilesystems' | 'root'>, rootFd: number): void {
  if (!o.durable) return;
  if (o.crossFilesystems) syncAll();
  else syncFilesystem(rootFd, o.root);
}
