/**
 * The tar format, pure: header, PAX, ACL and xattr codecs, the id shift of a
 * stream (TarShiftCore) and the entry reader (TarEntryParser). No I/O; the
 * stream and file adapters are in ../tar-io.
 */
export * from './header.js';
export * from './large-numbers.js';
export * from './pax.js';
export * from './acl-text.js';
export { aclTextToXattr, type AclToXattr, type NameResolver } from './acl-binary.js';
export {
  ACL_USER,
  ACL_GROUP,
  POSIX_ACL_ACCESS,
  POSIX_ACL_DEFAULT,
  SECURITY_CAPABILITY,
  readPosixAclIds,
  rewritePosixAclIds,
  readCapabilityRoot,
  rewriteCapabilityRoot,
  type PosixAclIds,
  type CapabilityRoot,
} from '../ownership/xattr-codec.js';
export * from './sparse.js';
export {
  IdShifter,
  type IdKind,
  type IdShiftStats,
  type IdSite,
  type NamesPolicy,
  type CapabilityPolicy,
  type ShiftOptions,
  type UnmappedPolicy,
} from './id-shift.js';
export { shiftPaxRecords, type PaxShiftResult, type PaxIdRecord } from './pax-shift.js';
export { shiftEntry, type EntryShiftInput, type EntryShiftResult } from './entry-shift.js';
export { TarShiftCore, type ShiftCoreOptions, type ShiftCoreStats } from './shift-core.js';
export { TarEntryParser, entryType, type TarEntry, type TarEvent } from './entry-parser.js';
export { toImageEntry, normalizeEntryPath } from './image-entry.js';
export type { TarWarning, TarWarningCode, WarningSink } from './warnings.js';
export { encodeEntryHeaders, paddingFor, END_OF_ARCHIVE, type EntryFields } from './entry-encode.js';
