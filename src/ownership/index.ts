/**
 * Ownership as stored on disk, pure (no I/O): an entry of an image (a tree
 * or a tar archive) with its owners, modes and id-holding xattrs; the byte
 * layouts of POSIX ACL and file-capability xattrs; the column record scans
 * produce; and `inspectEntries`, which sums an image's owners up. The tree
 * (tree/), tar (tar/, tar-io/) and model (vfs/) rooms all build on it.
 */
export type { EntryType, ImageEntry } from './entry.js';
export { type InodeColumns, newInodeColumns } from './columns.js';
export { inspectEntries, IMAGE_RANGE, type InspectReport, type IdRange, type ImageBase, type Examples } from './inspect.js';
export * from './xattr-codec.js';
