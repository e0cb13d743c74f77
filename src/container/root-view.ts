import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { getXattrLenient } from '../kernel/file/xattr.js';

/**
 * The container's root as the checks before a start read it: a plain rootfs
 * directory, or the union of an image's layers (and a restarted
 * container's writable layer) as overlayfs will show it. Lookups resolve as
 * RESOLVE_IN_ROOT does (".." stops at the root, absolute symlinks start
 * again there), so /bin → usr/bin works and nothing leads out. Read-only,
 * and each lookup touches only the entries on its path: never the whole tree.
 */
export interface RootView {
  /** For messages: the directory, or "the image's layers". */
  readonly description: string;
  /** The host path of the entry path names and its lstat, or null if it does not exist. */
  resolve(path: string, options?: { followLast?: boolean }): { hostPath: string; stat: Stats } | null;
}

/** The entry one directory holds under a name, as the view finds it. */
interface Found {
  readonly hostPath: string;
  readonly stat: Stats;
  /** The directories the entry's children are looked up in, topmost first (one for a plain root). */
  readonly dirs: readonly string[];
}

/** A plain directory. */
export function dirView(root: string): RootView {
  return {
    description: root,
    resolve: (path, options) =>
      walk(path, options?.followLast ?? true, [root], (dirs, name) => {
        const hostPath = join(dirs[0], name);
        const stat = lstatOrNull(hostPath);
        return stat ? { hostPath, stat, dirs: [hostPath] } : null;
      }),
  };
}

/**
 * Layer directories in overlayfs form, topmost first (a writable layer
 * before the image's, the image's from its last layer down): a character
 * device 0/0 is a whiteout (the name is deleted from the layers below), and
 * a directory with user.overlay.opaque "y" hides what the layers below hold
 * under it. user.*, not trusted.*: the rootfs is mounted with userxattr.
 */
export function layersView(layers: readonly string[]): RootView {
  return {
    description: `the image's ${layers.length} layers`,
    resolve: (path, options) => walk(path, options?.followLast ?? true, layers, lookupInLayers),
  };
}

export function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

export function isOpaque(dir: string): boolean {
  return getXattrLenient(dir, 'user.overlay.opaque')?.toString('latin1') === 'y';
}

function lookupInLayers(dirs: readonly string[], name: string): Found | null {
  for (let i = 0; i < dirs.length; i++) {
    const hostPath = join(dirs[i], name);
    const stat = lstatOrNull(hostPath);
    if (!stat) continue;
    if (isWhiteout(stat)) return null;
    if (!stat.isDirectory()) return { hostPath, stat, dirs: [hostPath] };
    // A directory merges with the same directory in the layers below, down to the first opaque one or non-directory.
    const merged = [hostPath];
    if (!isOpaque(hostPath)) {
      for (const below of dirs.slice(i + 1)) {
        const p = join(below, name);
        const st = lstatOrNull(p);
        if (!st) continue;
        if (!st.isDirectory()) break;
        merged.push(p);
        if (isOpaque(p)) break;
      }
    }
    return { hostPath, stat, dirs: merged };
  }
  return null;
}

function walk(
  path: string,
  followLast: boolean,
  rootDirs: readonly string[],
  lookup: (dirs: readonly string[], name: string) => Found | null,
): { hostPath: string; stat: Stats } | null {
  const pending = path.split('/').filter((s) => s !== '' && s !== '.');
  // The chain of entries from the root: ".." pops one, an absolute link empties it.
  const chain: Found[] = [];
  const top = (): readonly string[] => (chain.length === 0 ? rootDirs : chain[chain.length - 1].dirs);
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      chain.pop();
      continue;
    }
    if (chain.length > 0 && !chain[chain.length - 1].stat.isDirectory()) return null; // ENOTDIR
    const found = lookup(top(), part);
    if (!found) return null;
    if (found.stat.isSymbolicLink() && (pending.length > 0 || followLast)) {
      if (++links > 40) return null; // ELOOP
      const target = readlinkSync(found.hostPath);
      if (target.startsWith('/')) chain.length = 0;
      pending.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'));
      continue;
    }
    chain.push(found);
  }
  if (chain.length === 0) {
    const stat = lstatOrNull(rootDirs[0]);
    return stat ? { hostPath: rootDirs[0], stat } : null;
  }
  const last = chain[chain.length - 1];
  return { hostPath: last.hostPath, stat: last.stat };
}

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}
