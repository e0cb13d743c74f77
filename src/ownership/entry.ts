/**
 * One entry of an image, whether it comes from a directory tree (lstat) or a
 * tar archive (a header): what inspection and shift plans look at. Pure data.
 */
export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'socket' | 'other';

export interface ImageEntry {
  /** Path relative to the image root, '/'-separated, no leading './'. */
  readonly path: string;
  readonly type: EntryType;
  readonly uid: number;
  readonly gid: number;
  /** Permission bits including setuid (0o4000), setgid (0o2000) and sticky (0o1000). */
  readonly mode: number;
  /** For trees: device and inode, so hard-linked inodes are seen once. */
  readonly dev?: number;
  readonly ino?: number;
  readonly nlink?: number;
  /** For tar hard links and symlinks: the target as stored. */
  readonly linkTarget?: string;
  /** Uids and gids named inside POSIX ACL entries (access and default), if any. */
  readonly aclUids?: readonly number[];
  readonly aclGids?: readonly number[];
  /** Root uid of a v3 security.capability xattr, if any; null for v2 capabilities (no root id). */
  readonly capRootId?: number | null;
  readonly hasCapability?: boolean;
}
