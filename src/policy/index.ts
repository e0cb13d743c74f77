/**
 * Delegation policy, pure: shadow-utils' subordinate-id files and
 * newuidmap/newgidmap rules (4.13, Debian's uidmap), the fsid-map policy,
 * and the audit of /etc/subuid and /etc/subgid.
 */
export {
  getulong,
  isCanonical,
  describeNotation,
  ULONG_MAX,
  UINT_MAX,
  type UlongResult,
  type UlongOk,
  type Notation,
} from './shadow-number.js';
export {
  parseSubidDb,
  subidEntries,
  describeSkip,
  MAX_LINE,
  type SubidDb,
  type SubidLine,
  type SubidRange,
  type SkipReason,
  type SubidFileKind,
} from './subid-db.js';
export { addSubidRange, removeSubidRange, type SubidEdit } from './subid-edit.js';
export { Accounts, parsePasswd, parseGroup, type PasswdEntry, type GroupEntry } from './accounts.js';
export { parseLoginDefs, getdefBool } from './login-defs.js';
export {
  ownerView,
  findRange,
  haveRange,
  ownedIntervals,
  mergeIntervals,
  type OwnerView,
  type OwnedEntry,
  type OwnerOptions,
} from './subid-owner.js';
export { holdersOf, describeHolders, firstUncovered, type IdHolder } from './id-owners.js';
export { parseMapArgs, mappingText, mapTextToArgs, type MapRange, type MapArgsResult } from './map-args.js';
export {
  decideNewIdmap,
  type NewIdmapInput,
  type NewIdmapDecision,
  type NewIdmapTool,
  type NewIdmapStage,
  type RangeGrant,
} from './newidmap.js';
export { decideFsidMap, type FsidMapInput, type FsidMapDecision, type FsidKind, type FsidRefusal } from './fsid-policy.js';
export { auditSubids, type AuditInput, type AuditReport, type AuditFile, type Finding, type FindingCode, type Severity } from './audit.js';
