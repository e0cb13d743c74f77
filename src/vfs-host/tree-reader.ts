import { type Dirent, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FsidmapError } from '../errors.js';
import { POSIX_ACL_ACCESS } from '../ownership/xattr-codec.js';
import { getXattrLenient } from '../kernel/file/xattr.js';
import { decodeAclXattr } from '../vfs/acl-xattr.js';
import type { TreeEntry } from '../vfs/explain.js';

/**
 * The I/O side of `fsidmap explain`: walks a real tree depth first, in name
 * order, with lstat only (never following symlinks, never opening files),
 * and reads each entry's POSIX access ACL xattr. Changes nothing. Entries
 * that vanish during the walk are skipped. A directory that cannot be listed
 * (or an entry that cannot be looked at) below the root does not stop the
 * walk: it goes to `onUnreadable` and the walk goes on, so a report of the
 * tree is whole, with what it could not see named; without `onUnreadable`
 * it is an error.
 */
export function* readTree(
  root: string,
  options: { acl?: boolean; onUnreadable?: (u: UnreadableEntry) => void } = {},
): Generator<TreeEntry> {
  const withAcl = options.acl !== false;
  const top = stat(root);
  if (!top) throw new FsidmapError('ERR_USAGE', `cannot explain ${root}: no such file or directory`, { hint: 'give an existing path' });
  const stack: Array<{ abs: string; rel: string; depth: number }> = [{ abs: root, rel: '.', depth: 0 }];
  while (stack.length > 0) {
    const { abs, rel, depth } = stack.pop()!;
    let st;
    try {
      st = rel === '.' ? top : stat(abs);
    } catch (e) {
      unreadable(abs, 'look at', e);
      continue;
    }
    if (!st) continue;
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
    let acl = null;
    if (withAcl && type !== 'symlink') {
      const raw = getXattrLenient(abs, POSIX_ACL_ACCESS);
      if (raw) acl = decodeAclXattr(raw)?.acl ?? null;
    }
    yield { path: rel, depth, type, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, acl };
    if (type === 'dir') {
      let names: Dirent[];
      try {
        names = readdirSync(abs, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        unreadable(abs, 'list', e);
        continue;
      }
      names.sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
      for (const d of names) stack.push({ abs: join(abs, d.name), rel: rel === '.' ? d.name : `${rel}/${d.name}`, depth: depth + 1 });
    }
  }

  function unreadable(path: string, action: 'list' | 'look at', e: unknown): void {
    const errno = (e as NodeJS.ErrnoException).code ?? 'EIO';
    if (!options.onUnreadable) {
      throw new FsidmapError('ERR_TREE_READ', `cannot ${action} ${path}: ${(e as Error).message}`, {
        cause: e,
        context: { path, errno },
        hint: 'run explain as a user who can read the whole tree (root)',
      });
    }
    options.onUnreadable({ path, errno, action });
  }
}

/** Something of the tree the walk could not see: a directory it could not list, or an entry it could not lstat. */
export interface UnreadableEntry {
  readonly path: string;
  readonly errno: string;
  readonly action: 'list' | 'look at';
}

function stat(p: string) {
  return lstatSync(p, { throwIfNoEntry: false });
}
