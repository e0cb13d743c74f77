/**
 * User namespaces with id maps and fsid maps, credentials and the rules for
 * who may write which map: a pure model of kernel/user_namespace.c,
 * kernel/sys.c and security/commoncap.c, plus the unmerged fsid-mapping
 * series (v3 semantics, v2 as an option). No I/O.
 */
export * from './caps.js';
export * from './trace.js';
export { UserNamespace, FSID_SEMANTICS, MAX_USERNS_PARENT_LEVEL, type FsidSemantics, type SetgroupsState } from './namespace.js';
export * from './lookup.js';
export { type Cred, type CredView, initCred, inGroupP, viewCred, describeCred } from './cred.js';
export { nsCapable, capableInOwnNs, type CapCheck } from './capable.js';
export { writeMap, writeSetgroups, type MapWriteResult } from './map-write.js';
export { setid, setresid, setfsid, setgroups, capsetEffective, setKeepCaps } from './setid.js';
export { unshareUserNs, type UnshareResult } from './unshare.js';
export { killOk, ptraceMayAccess, type Task, type PtraceMode } from './task.js';
export { UsernsSystem } from './system.js';
