import { FsidmapError } from '../errors.js';
import type { EntryType, ImageEntry } from '../ownership/entry.js';
import { aclIds, decodeAcl, decodeCap } from '../ownership/xattr-codec.js';
import { displayPath, pathListAll } from './path-table.js';
import type { TreeColumns } from './plan.js';
import { scanTree } from './scan.js';
import type { ScanOptions } from './types.js';

/**
 * A directory tree as ImageEntry values, the form `inspectEntries` and other
 * image code share with tar archives. Paths are relative, '' for the root,
 * in byte order: the scan's order depends on its threads, a report's
 * examples should not.
 */
export async function* readTreeEntries(dir: string, options: ScanOptions = {}): AsyncGenerator<ImageEntry> {
  const scan = await scanTree(dir, options);
  yield* columnsToEntries(scan);
}

const TYPES: Record<number, EntryType> = {
  0o100000: 'file',
  0o040000: 'dir',
  0o120000: 'symlink',
  0o020000: 'char',
  0o060000: 'block',
  0o010000: 'fifo',
  0o140000: 'socket',
};

export function entryType(mode: number): EntryType {
  return TYPES[mode & 0o170000] ?? 'other';
}

export function* columnsToEntries(cols: TreeColumns): Generator<ImageEntry> {
  const paths = pathListAll(cols.paths);
  const order = Array.from(paths.keys()).sort((a, b) => (paths[a] < paths[b] ? -1 : paths[a] > paths[b] ? 1 : 0));
  for (const i of order) {
    const path = displayPath(paths[i]);
    const x = cols.xattrs.get(i);
    let acl: { uids: number[]; gids: number[] } | undefined;
    let cap: { rootId: number | null } | undefined;
    if (x) {
      try {
        const access = x.aclAccess ? aclIds(decodeAcl(x.aclAccess)) : { uids: [], gids: [] };
        const deflt = x.aclDefault ? aclIds(decodeAcl(x.aclDefault)) : { uids: [], gids: [] };
        acl = { uids: [...access.uids, ...deflt.uids], gids: [...access.gids, ...deflt.gids] };
        if (x.capability) cap = decodeCap(x.capability);
      } catch (e) {
        const err = e as FsidmapError;
        throw new FsidmapError(err.code, `${path || '.'}: ${err.message}`, { context: { path }, cause: e });
      }
    }
    yield {
      path,
      type: entryType(cols.mode[i]),
      uid: cols.uid[i],
      gid: cols.gid[i],
      mode: cols.mode[i] & 0o7777,
      dev: cols.dev[i],
      ino: cols.ino[i],
      nlink: cols.nlink[i],
      ...(acl ? { aclUids: acl.uids, aclGids: acl.gids } : {}),
      ...(cap ? { hasCapability: true, capRootId: cap.rootId } : {}),
    };
  }
}
