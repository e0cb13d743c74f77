import { lstatSync, mkdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { FsidmapError } from '../errors.js';

/**
 * The directory an archive is unpacked into, guarded against entries that
 * would write outside it: a path with a ".." component is refused, and no
 * path is written through a symlink or a non-directory, because every
 * parent component is checked with lstat (node-tar's rule; GNU tar's is the
 * same in effect). A directory once checked is remembered until an entry
 * replaces it.
 */
export class UnpackTarget {
  private readonly dirs = new Set<string>(['']);

  constructor(readonly root: string) {}

  /** The absolute path for a normalized relative path, or undefined when it would leave the root. */
  pathOf(rel: string): string | undefined {
    if (rel === '.') return this.root;
    if (rel.split('/').some((c) => c === '..' || c === '')) return undefined;
    return join(this.root, rel);
  }

  /**
   * Makes sure every parent of `rel` is a real directory inside the root,
   * creating missing ones (mode 0755, as GNU tar does for directories the
   * archive does not list). Returns false when a parent is a symlink or
   * not a directory: the entry must be skipped.
   */
  ensureParents(rel: string): boolean {
    const parts = rel.split('/');
    let at = '';
    for (let i = 0; i < parts.length - 1; i++) {
      at = at === '' ? parts[i] : `${at}/${parts[i]}`;
      if (this.dirs.has(at)) continue;
      const abs = join(this.root, at);
      const st = lstatOrUndefined(abs);
      if (st === undefined) mkdirSync(abs, { mode: 0o755 });
      else if (!st.isDirectory()) return false;
      this.dirs.add(at);
    }
    return true;
  }

  /** True when every parent of `rel` exists as a real directory (no symlink, nothing missing); creates nothing. */
  parentsAreDirs(rel: string): boolean {
    const parts = rel.split('/');
    let at = '';
    for (let i = 0; i < parts.length - 1; i++) {
      at = at === '' ? parts[i] : `${at}/${parts[i]}`;
      if (this.dirs.has(at)) continue;
      const st = lstatOrUndefined(join(this.root, at));
      if (st === undefined || !st.isDirectory()) return false;
    }
    return true;
  }

  /**
   * Clears the way for a new entry at `rel`: an existing non-directory is
   * removed (GNU tar's default of replacing files); an existing directory
   * stays when a directory is coming and is removed (if empty) otherwise.
   * Returns 'exists' when a directory is already there.
   */
  clear(rel: string, coming: 'dir' | 'other'): 'exists' | 'clear' {
    const abs = join(this.root, rel);
    const st = lstatOrUndefined(abs);
    if (st === undefined) return 'clear';
    if (st.isDirectory()) {
      if (coming === 'dir') return 'exists';
      try {
        rmdirSync(abs);
      } catch (e) {
        throw new FsidmapError('ERR_UNPACK_NOT_EMPTY', `${rel}: the archive puts a non-directory where a non-empty directory already is`, {
          context: { path: rel },
          hint: 'unpack into an empty directory',
          cause: e,
        });
      }
      this.forget(rel);
      return 'clear';
    }
    unlinkSync(abs);
    this.forget(rel);
    return 'clear';
  }

  rememberDir(rel: string): void {
    this.dirs.add(rel === '.' ? '' : rel);
  }

  private forget(rel: string): void {
    this.dirs.delete(rel);
  }
}

function lstatOrUndefined(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
