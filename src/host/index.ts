/**
 * Host adapters: the account and subordinate-id files on disk. Reads are
 * plain; writes take shadow's lock and replace files atomically.
 */
export { DEFAULT_PATHS, hostPaths, type HostPaths } from './paths.js';
export { writeFileAtomic, fsyncDir, type AtomicWriteOptions } from './atomic-write.js';
export { lockShadowFile, type LockOptions, type ShadowLock } from './shadow-lock.js';
export {
  readSubidFile,
  shadowView,
  editSubidFile,
  addSubidRangeToFile,
  removeSubidRangeFromFile,
  type SubidFileRead,
  type EditOptions,
  type FileAddOptions,
} from './subid-file.js';
export { readAccounts, readLoginDefs, type ReadOptions } from './accounts-file.js';
export {
  loadDelegation,
  checkDelegation,
  auditHost,
  type Delegation,
  type CheckRequest,
  type CheckReport,
  type MapCheck,
  type MapKindName,
  type AuditRequest,
} from './delegation.js';
