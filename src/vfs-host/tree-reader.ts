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
 * that vanish during the walk are skipped.
 */
export function* readTree(root: string, options: { acl?: boolean } = {}): Generator<TreeEntry> {
  const withAcl = options.acl !== false;
  const top = stat(root);
  if (!top) throw new FsidmapError('ERR_USAGE', `cannot explain ${root}: no such file or directory`, { hint: 'give an existing path' });
  const stack: Array<{ abs: string; rel: string; depth: number }> = [{ abs: root, rel: '.', depth: 0 }];
  while (stack.length > 0) {
    const { abs, rel, depth } = stack.pop()!;
    const st = rel === '.' ? top : stat(abs);
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
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        throw new FsidmapError('ERR_TREE_READ', `cannot list ${abs}: ${code ?? (e as Error).message}`, {
          cause: e,
          hint: 'run explain as a user who can read the whole tree (root)',
        });
      }
      names.sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
      for (const d of names) stack.push({ abs: join(abs, d.name), rel: rel === '.' ? d.name : `${rel}/${d.name}`, depth: depth + 1 });
    }
  }
}

function stat(p: string) {
  return lstatSync(p, { throwIfNoEntry: false });
}
