/**
 * The ids inside the two binary xattr values a shift must rewrite when an
 * archive carries them (SCHILY.xattr.* or LIBARCHIVE.xattr.* records):
 *
 * - system.posix_acl_access / system.posix_acl_default
 *   (include/uapi/linux/posix_acl_xattr.h): u32 version 2, then entries of
 *   { u16 e_tag, u16 e_perm, u32 e_id }, little-endian. ACL_USER (0x02) and
 *   ACL_GROUP (0x08) carry an id; the others carry ACL_UNDEFINED_ID.
 * - security.capability (include/uapi/linux/capability.h): u32 magic_etc,
 *   then permitted/inheritable pairs; revision 3 (VFS_CAP_REVISION_3,
 *   0x03000000, 24 bytes) ends with the u32 rootid of the namespace that
 *   owns the capability. Revisions 1 and 2 name no id.
 *
 * Only the id bytes are touched: every other byte is copied as is. Pure.
 */
export const ACL_USER = 0x02;
export const ACL_GROUP = 0x08;
const POSIX_ACL_XATTR_VERSION = 2;
const VFS_CAP_REVISION_MASK = 0xff000000;
const VFS_CAP_REVISION_3 = 0x03000000;
const XATTR_CAPS_SZ_3 = 24;

export const POSIX_ACL_ACCESS = 'system.posix_acl_access';
export const POSIX_ACL_DEFAULT = 'system.posix_acl_default';
export const SECURITY_CAPABILITY = 'security.capability';

export interface PosixAclIds {
  /** Ids of ACL_USER entries, in stored order. */
  readonly users: number[];
  /** Ids of ACL_GROUP entries, in stored order. */
  readonly groups: number[];
}

/** Reads the ids out of a posix_acl xattr; undefined when the value is not one (wrong version or length). */
export function readPosixAclIds(value: Uint8Array): PosixAclIds | undefined {
  if (value.length < 4 || (value.length - 4) % 8 !== 0) return undefined;
  const dv = new DataView(value.buffer, value.byteOffset, value.length);
  if (dv.getUint32(0, true) !== POSIX_ACL_XATTR_VERSION) return undefined;
  const users: number[] = [];
  const groups: number[] = [];
  for (let off = 4; off < value.length; off += 8) {
    const tag = dv.getUint16(off, true);
    if (tag === ACL_USER) users.push(dv.getUint32(off + 4, true));
    else if (tag === ACL_GROUP) groups.push(dv.getUint32(off + 4, true));
  }
  return { users, groups };
}

/**
 * A copy of a posix_acl xattr with each ACL_USER id passed through `uid` and
 * each ACL_GROUP id through `gid`. Undefined when the value is malformed.
 */
export function rewritePosixAclIds(value: Uint8Array, uid: (id: number) => number, gid: (id: number) => number): Buffer | undefined {
  if (readPosixAclIds(value) === undefined) return undefined;
  const out = Buffer.from(value);
  for (let off = 4; off < out.length; off += 8) {
    const tag = out.readUInt16LE(off);
    if (tag === ACL_USER) out.writeUInt32LE(uid(out.readUInt32LE(off + 4)), off + 4);
    else if (tag === ACL_GROUP) out.writeUInt32LE(gid(out.readUInt32LE(off + 4)), off + 4);
  }
  return out;
}

export type CapabilityRoot =
  | { readonly kind: 'v3'; readonly rootid: number }
  | { readonly kind: 'v1-v2' }
  | { readonly kind: 'malformed' };

export function readCapabilityRoot(value: Uint8Array): CapabilityRoot {
  if (value.length < 4) return { kind: 'malformed' };
  const dv = new DataView(value.buffer, value.byteOffset, value.length);
  const revision = (dv.getUint32(0, true) & VFS_CAP_REVISION_MASK) >>> 0;
  if (revision === VFS_CAP_REVISION_3) {
    return value.length === XATTR_CAPS_SZ_3 ? { kind: 'v3', rootid: dv.getUint32(20, true) } : { kind: 'malformed' };
  }
  if (revision === 0x01000000 && value.length === 12) return { kind: 'v1-v2' };
  if (revision === 0x02000000 && value.length === 20) return { kind: 'v1-v2' };
  return { kind: 'malformed' };
}

/** A copy of a v3 capability with its rootid passed through `uid`; v1/v2 come back unchanged (same bytes). */
export function rewriteCapabilityRoot(value: Uint8Array, uid: (id: number) => number): Buffer | undefined {
  const root = readCapabilityRoot(value);
  if (root.kind === 'malformed') return undefined;
  const out = Buffer.from(value);
  if (root.kind === 'v3') out.writeUInt32LE(uid(root.rootid), 20);
  return out;
}
