/**
 * Bad or odd stream data that the tar code can get past with a correct
 * result is reported as a coded warning (the node-tar model), never thrown.
 * What prevents a correct result (a header whose checksum fails, a truncated
 * member, an id the map does not cover) is a thrown FsidmapError instead, and
 * caller mistakes (bad options) are thrown before any byte is read.
 */
export type TarWarningCode =
  /** A named ACL entry ("user:daemon:rwx") whose id could not be found: left as written. */
  | 'TAR_ACL_NAMED_ENTRY'
  /** An ACL text record with an entry that is not tag:qualifier:perms: left as written. */
  | 'TAR_ACL_MALFORMED'
  /** A posix_acl or capability xattr value of the wrong shape: left as written. */
  | 'TAR_XATTR_MALFORMED'
  /** NFSv4 ACLs (SCHILY.acl.ace) are passed through unshifted. */
  | 'TAR_NFS4_ACL_UNSHIFTED'
  /** A PAX uid/gid record that is not a decimal id: left as written. */
  | 'TAR_PAX_BAD_ID'
  /** One zero block followed by a header: GNU tar's "A lone zero block". */
  | 'TAR_LONE_ZERO_BLOCK'
  /** The input ended on a header boundary without the two zero blocks. */
  | 'TAR_NO_END_MARKER'
  /** Non-zero bytes after the end-of-archive marker: passed through. */
  | 'TAR_TRAILING_DATA'
  /** A header typeflag this code does not know: its data is passed through by its size. */
  | 'TAR_UNKNOWN_TYPE'
  /** Unpack: a device node could not be created (no CAP_MKNOD, e.g. in a user namespace). */
  | 'TAR_MKNOD_DENIED'
  /** Unpack: an xattr could not be set (unsupported by the filesystem, or not permitted). */
  | 'TAR_XATTR_NOT_SET'
  /** Unpack: an entry whose path would leave the target directory; skipped. */
  | 'TAR_UNSAFE_PATH';

export interface TarWarning {
  readonly code: TarWarningCode;
  readonly message: string;
  /** Byte offset of the header (in the uncompressed stream) the warning is about. */
  readonly offset?: number;
  readonly path?: string;
}

export type WarningSink = (w: TarWarning) => void;
