import { FsidmapError } from '../errors.js';
import { errnoName } from '../kernel/libc.js';
import { displayPath } from './path-table.js';
import type { OpFailure } from './scan-ops.js';

/**
 * The errors of a scan or shift, worded once for both engines: a failed
 * call (by the call's name and errno, on an entry's relative path), or an
 * interruption.
 */
export function interrupted(): FsidmapError {
  return new FsidmapError('ERR_SHIFT_INTERRUPTED', 'the shift was interrupted', {
    hint: 'run the same command again to finish it: it resumes from the journal and shifts nothing twice',
  });
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
