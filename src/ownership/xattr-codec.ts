import { FsidmapError } from '../errors.js';
import { INVALID_ID } from '../idmap/index.js';

/**
 * The two xattr formats that carry ids, exactly as the kernel reads and
 * writes them from the initial user namespace: the one place that knows
 * their byte layouts. Pure: bytes in, bytes out.
 *
 * POSIX ACLs (include/uapi/linux/posix_acl_xattr.h): a u32 header
 * POSIX_ACL_XATTR_VERSION (2), then entries {u16 tag, u16 perm, u32 id},
 * little-endian. Only ACL_USER and ACL_GROUP entries carry an id; the others
 * hold ACL_UNDEFINED_ID ((u32)-1).
 *
 * File capabilities (include/uapi/linux/capability.h): u32 magic_etc
 * (revision in the top byte, VFS_CAP_FLAGS_EFFECTIVE in bit 0), then
 * {permitted, inheritable} u32 pairs: one pair for revision 1 (12 bytes), two
 * for revisions 2 (20 bytes) and 3 (24 bytes); revision 3 adds the u32 rootid,
 * the on-disk uid of the root of the namespace the capabilities belong to.
 *
 * Two ways in. The tree side decodes whole values (decodeAcl, decodeCap: a
 * malformed value throws) and re-encodes them (translateAcl, translateCap:
 * canonical order, v3 → v2 for rootid 0). The tar side reads and rewrites the
 * ids in place (readPosixAclIds, rewritePosixAclIds, readCapabilityRoot,
 * rewriteCapabilityRoot): only the id bytes are touched, every other byte is
 * copied as is, unknown ACL tags pass, and a malformed value comes back as
 * undefined (or kind 'malformed') for the caller to report.
 */

export const POSIX_ACL_XATTR_VERSION = 2;
export const POSIX_ACL_ACCESS = 'system.posix_acl_access';
export const POSIX_ACL_DEFAULT = 'system.posix_acl_default';
export const SECURITY_CAPABILITY = 'security.capability';

/** e_tag values (include/uapi/linux/posix_acl.h). */
export const ACL_TAG = { USER_OBJ: 0x01, USER: 0x02, GROUP_OBJ: 0x04, GROUP: 0x08, MASK: 0x10, OTHER: 0x20 } as const;
/** The two tags that carry an id, by the names the tar format module has always exported. */
export const ACL_USER = ACL_TAG.USER;
export const ACL_GROUP = ACL_TAG.GROUP;
const KNOWN_TAGS = new Set<number>(Object.values(ACL_TAG));

export interface AclEntry {
  readonly tag: number;
  readonly perm: number;
  /** The uid (ACL_USER) or gid (ACL_GROUP); INVALID_ID for the unqualified tags. */
  readonly id: number;
}

const ACL_HEADER = 4;
const ACL_ENTRY = 8;
/** Where e_id sits in an entry. */
const ACL_ID = 4;

const viewOf = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** What is wrong with the frame of an ACL value (its length or version), or null. Tags are not looked at. */
function aclFrameProblem(bytes: Uint8Array, view: DataView): string | null {
  if (bytes.length < ACL_HEADER || (bytes.length - ACL_HEADER) % ACL_ENTRY !== 0) return `length ${bytes.length} is not 4 + 8·n`;
  const version = view.getUint32(0, true);
  return version === POSIX_ACL_XATTR_VERSION ? null : `version ${version}, expected ${POSIX_ACL_XATTR_VERSION}`;
}

function entriesOf(bytes: Uint8Array, view: DataView): AclEntry[] {
  const entries: AclEntry[] = [];
  for (let at = ACL_HEADER; at < bytes.length; at += ACL_ENTRY) {
    entries.push({ tag: view.getUint16(at, true), perm: view.getUint16(at + 2, true), id: view.getUint32(at + ACL_ID, true) });
  }
  return entries;
}

/** The entries of an ACL value, whatever their tags; undefined when its length or version is wrong. */
export function readAclEntries(bytes: Uint8Array): AclEntry[] | undefined {
  const view = viewOf(bytes);
  return aclFrameProblem(bytes, view) === null ? entriesOf(bytes, view) : undefined;
}

/** The entries of an ACL value; throws ERR_XATTR_ACL_MALFORMED for a wrong length or version or an unknown tag. */
export function decodeAcl(bytes: Uint8Array): AclEntry[] {
  const view = viewOf(bytes);
  const problem = aclFrameProblem(bytes, view);
  if (problem !== null) throw malformed('ACL', problem);
  const entries = entriesOf(bytes, view);
  const bad = entries.findIndex((e) => !KNOWN_TAGS.has(e.tag));
  if (bad >= 0) throw malformed('ACL', `unknown tag 0x${entries[bad].tag.toString(16)} at byte ${ACL_HEADER + ACL_ENTRY * bad}`);
  return entries;
}

/**
 * The value holding `entries`, in the order given. An id that is not a u32
 * throws RangeError (ERR_OUT_OF_RANGE) instead of wrapping: an ACL text
 * entry with such a number must not land on another id.
 */
export function encodeAcl(entries: readonly AclEntry[]): Uint8Array {
  const out = new Uint8Array(ACL_HEADER + ACL_ENTRY * entries.length);
  const view = new DataView(out.buffer);
  const ids = Buffer.from(out.buffer);
  view.setUint32(0, POSIX_ACL_XATTR_VERSION, true);
  entries.forEach((e, i) => {
    const at = ACL_HEADER + ACL_ENTRY * i;
    view.setUint16(at, e.tag, true);
    view.setUint16(at + 2, e.perm, true);
    ids.writeUInt32LE(e.id, at + ACL_ID);
  });
  return out;
}

/** The ids named in an ACL: ACL_USER qualifiers are uids, ACL_GROUP qualifiers gids. */
export function aclIds(entries: readonly AclEntry[]): { uids: number[]; gids: number[] } {
  const uids: number[] = [];
  const gids: number[] = [];
  for (const e of entries) {
    if (e.tag === ACL_TAG.USER) uids.push(e.id);
    else if (e.tag === ACL_TAG.GROUP) gids.push(e.id);
  }
  return { uids, gids };
}

export interface PosixAclIds {
  /** Ids of ACL_USER entries, in stored order. */
  readonly users: number[];
  /** Ids of ACL_GROUP entries, in stored order. */
  readonly groups: number[];
}

/** Reads the ids out of a posix_acl xattr; undefined when the value is not one (wrong version or length). */
export function readPosixAclIds(value: Uint8Array): PosixAclIds | undefined {
  const entries = readAclEntries(value);
  if (entries === undefined) return undefined;
  const { uids, gids } = aclIds(entries);
  return { users: uids, groups: gids };
}

/**
 * A copy of a posix_acl xattr with each ACL_USER id passed through `uid` and
 * each ACL_GROUP id through `gid`, in place: every other byte is copied as
 * is. Undefined when the value is malformed.
 */
export function rewritePosixAclIds(value: Uint8Array, uid: (id: number) => number, gid: (id: number) => number): Buffer | undefined {
  const entries = readAclEntries(value);
  if (entries === undefined) return undefined;
  const out = Buffer.from(value);
  entries.forEach((e, i) => {
    const at = ACL_HEADER + ACL_ENTRY * i + ACL_ID;
    if (e.tag === ACL_TAG.USER) out.writeUInt32LE(uid(e.id), at);
    else if (e.tag === ACL_TAG.GROUP) out.writeUInt32LE(gid(e.id), at);
  });
  return out;
}

/** How ids move: undefined means "not covered" and is reported, never written. */
export interface IdTranslate {
  uid(id: number): number | undefined;
  gid(id: number): number | undefined;
}

export type AclTranslation =
  | { readonly ok: true; readonly bytes: Uint8Array; readonly changed: boolean }
  | {
      readonly ok: false;
      readonly unmappedUids: number[];
      readonly unmappedGids: number[];
      readonly duplicate: { tag: 'user' | 'group'; id: number } | null;
    };

/**
 * Rewrites the ACL_USER and ACL_GROUP ids. Entries stay in libacl's canonical
 * order (by tag, then id: acl_set_file writes them so, and getfacl prints them
 * so), which a map that is not monotonic would otherwise break. Two entries
 * landing on one id would make an ACL the kernel accepts but libacl calls
 * invalid; that is reported, like an unmapped id, instead of written.
 */
export function translateAcl(bytes: Uint8Array, tr: IdTranslate): AclTranslation {
  const entries = decodeAcl(bytes);
  const unmappedUids: number[] = [];
  const unmappedGids: number[] = [];
  let changed = false;
  const out = entries.map((e) => {
    if (e.tag !== ACL_TAG.USER && e.tag !== ACL_TAG.GROUP) return e;
    const user = e.tag === ACL_TAG.USER;
    const id = user ? tr.uid(e.id) : tr.gid(e.id);
    if (id === undefined) {
      (user ? unmappedUids : unmappedGids).push(e.id);
      return e;
    }
    if (id !== e.id) changed = true;
    return { tag: e.tag, perm: e.perm, id };
  });
  if (unmappedUids.length > 0 || unmappedGids.length > 0) return { ok: false, unmappedUids, unmappedGids, duplicate: null };
  if (!changed) return { ok: true, bytes, changed: false };
  const sorted = out
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.tag - b.e.tag || (a.e.tag === ACL_TAG.USER || a.e.tag === ACL_TAG.GROUP ? a.e.id - b.e.id : a.i - b.i))
    .map((x) => x.e);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1],
      b = sorted[i];
    if (a.tag === b.tag && (a.tag === ACL_TAG.USER || a.tag === ACL_TAG.GROUP) && a.id === b.id) {
      return { ok: false, unmappedUids, unmappedGids, duplicate: { tag: a.tag === ACL_TAG.USER ? 'user' : 'group', id: a.id } };
    }
  }
  return { ok: true, bytes: encodeAcl(sorted), changed: true };
}

// ---- capabilities -------------------------------------------------------

export const VFS_CAP_REVISION_MASK = 0xff000000;
export const VFS_CAP_FLAGS_EFFECTIVE = 0x000001;
const CAP_SIZE: Record<number, number> = { 1: 12, 2: 20, 3: 24 };
/** Where a revision 3 value keeps its rootid. */
const CAP_ROOTID = 20;

export interface VfsCap {
  readonly revision: 1 | 2 | 3;
  /** magic_etc without the revision byte (VFS_CAP_FLAGS_EFFECTIVE and any other bits, kept as found). */
  readonly flags: number;
  /** [low u32, high u32]; revision 1 has only the low word (high is 0). */
  readonly permitted: readonly [number, number];
  readonly inheritable: readonly [number, number];
  /** Revision 3 only: the on-disk uid of the namespace root; null otherwise. */
  readonly rootId: number | null;
}

/** The revision of a capability value whose length is the one of its revision, or what is wrong with it. */
function capRevision(bytes: Uint8Array, view: DataView): 1 | 2 | 3 | string {
  if (bytes.length < 4) return `length ${bytes.length}`;
  const revision = (view.getUint32(0, true) & VFS_CAP_REVISION_MASK) >>> 24;
  if (revision !== 1 && revision !== 2 && revision !== 3) return `revision ${revision}`;
  if (bytes.length !== CAP_SIZE[revision]) return `revision ${revision} with length ${bytes.length}, expected ${CAP_SIZE[revision]}`;
  return revision;
}

export function decodeCap(bytes: Uint8Array): VfsCap {
  const view = viewOf(bytes);
  const revision = capRevision(bytes, view);
  if (typeof revision === 'string') throw malformed('capability', revision);
  const magic = view.getUint32(0, true);
  const word = (i: number) => view.getUint32(4 + 4 * i, true);
  return {
    revision,
    flags: magic & ~VFS_CAP_REVISION_MASK,
    permitted: [word(0), revision === 1 ? 0 : word(2)],
    inheritable: [word(1), revision === 1 ? 0 : word(3)],
    rootId: revision === 3 ? view.getUint32(CAP_ROOTID, true) : null,
  };
}

export type CapabilityRoot = { readonly kind: 'v3'; readonly rootid: number } | { readonly kind: 'v1-v2' } | { readonly kind: 'malformed' };

/** The rootid of a revision 3 capability; revisions 1 and 2 name no id. */
export function readCapabilityRoot(value: Uint8Array): CapabilityRoot {
  const view = viewOf(value);
  const revision = capRevision(value, view);
  if (typeof revision === 'string') return { kind: 'malformed' };
  return revision === 3 ? { kind: 'v3', rootid: view.getUint32(CAP_ROOTID, true) } : { kind: 'v1-v2' };
}

/** A copy of a v3 capability with its rootid passed through `uid` (and nothing else touched); v1/v2 come back unchanged (same bytes). */
export function rewriteCapabilityRoot(value: Uint8Array, uid: (id: number) => number): Buffer | undefined {
  const root = readCapabilityRoot(value);
  if (root.kind === 'malformed') return undefined;
  const out = Buffer.from(value);
  if (root.kind === 'v3') out.writeUInt32LE(uid(root.rootid), CAP_ROOTID);
  return out;
}

export function encodeCap(cap: VfsCap): Uint8Array {
  const out = new Uint8Array(CAP_SIZE[cap.revision]);
  const view = new DataView(out.buffer);
  view.setUint32(0, ((cap.revision << 24) | (cap.flags & ~VFS_CAP_REVISION_MASK)) >>> 0, true);
  view.setUint32(4, cap.permitted[0], true);
  view.setUint32(8, cap.inheritable[0], true);
  if (cap.revision !== 1) {
    view.setUint32(12, cap.permitted[1], true);
    view.setUint32(16, cap.inheritable[1], true);
  }
  if (cap.revision === 3) view.setUint32(CAP_ROOTID, cap.rootId ?? 0, true);
  return out;
}

export type CapTranslation =
  { readonly ok: true; readonly bytes: Uint8Array; readonly changed: boolean } | { readonly ok: false; readonly unmappedUid: number };

/**
 * What the kernel stores when a revision 1 or 2 value is written from inside
 * a user namespace whose root is `rootId` on disk (cap_convert_nscap): a
 * revision 3 value with that rootid, the effective flag kept and every other
 * flag bit dropped, the permitted and inheritable words copied (revision 1
 * has no high words: they are 0).
 */
export function namespacedCap(cap: VfsCap, rootId: number): VfsCap {
  return { ...cap, revision: 3, flags: cap.flags & VFS_CAP_FLAGS_EFFECTIVE, rootId };
}

/**
 * A revision 1 or 2 value as the kernel would store it written from a
 * namespace whose root is `rootId` (see namespacedCap); a revision 3 value,
 * or a rootId of 0 (the initial namespace keeps v2), comes back unchanged.
 * The tar side's counterpart of translateCap's `v2Root`; undefined when malformed.
 */
export function namespaceCapabilityValue(value: Uint8Array, rootId: number): Buffer | undefined {
  const root = readCapabilityRoot(value);
  if (root.kind === 'malformed') return undefined;
  if (root.kind === 'v3' || rootId === 0) return Buffer.from(value);
  return Buffer.from(encodeCap(namespacedCap(decodeCap(value), rootId)));
}

/**
 * Moves the rootid of a revision 3 capability through the uid map. Revisions
 * 1 and 2 name no id: with `v2Root` undefined (or 0) they are returned as
 * they are; otherwise they become revision 3 with rootid `v2Root`, which is
 * what the kernel makes of them when they are written inside the namespace
 * whose root that is (namespacedCap) — the shift passes MAP(0). A rootid that lands on 0
 * is written as revision 2: that is how the kernel presents such a v3 value
 * to the initial namespace (cap_inode_getsecurity), so the result reads back
 * byte for byte as written.
 */
export function translateCap(bytes: Uint8Array, uid: (id: number) => number | undefined, v2Root?: number): CapTranslation {
  const cap = decodeCap(bytes);
  if (cap.revision !== 3 || cap.rootId === null) {
    if (v2Root === undefined || v2Root === 0) return { ok: true, bytes, changed: false };
    return { ok: true, bytes: encodeCap(namespacedCap(cap, v2Root)), changed: true };
  }
  const root = uid(cap.rootId);
  if (root === undefined) return { ok: false, unmappedUid: cap.rootId };
  if (root === cap.rootId) return { ok: true, bytes, changed: false };
  const next: VfsCap = root === 0 ? { ...cap, revision: 2, rootId: null } : { ...cap, rootId: root };
  return { ok: true, bytes: encodeCap(next), changed: true };
}

function malformed(what: 'ACL' | 'capability', detail: string): FsidmapError {
  return new FsidmapError(what === 'ACL' ? 'ERR_XATTR_ACL_MALFORMED' : 'ERR_XATTR_CAP_MALFORMED', `malformed ${what} xattr: ${detail}`);
}

export { INVALID_ID as ACL_UNDEFINED_ID };
