import type { ExtendedAcl } from './inode.js';

/**
 * The on-disk form of system.posix_acl_access (include/uapi/linux/posix_acl_xattr.h):
 * a little-endian u32 version (2), then 8-byte entries {u16 tag, u16 perm,
 * u32 id}. Ids are raw on-disk ids. Decoding is pure; reading the xattr is
 * src/kernel/xattr-read.ts.
 */
export const POSIX_ACL_XATTR_VERSION = 2;
const ACL_USER_OBJ = 0x01, ACL_USER = 0x02, ACL_GROUP_OBJ = 0x04, ACL_GROUP = 0x08, ACL_MASK = 0x10, ACL_OTHER = 0x20;

export interface DecodedAcl {
  /** The extended part, or null for a minimal ACL (which says no more than the mode). */
  readonly acl: ExtendedAcl | null;
  /** The mask entry, which the kernel keeps equal to the mode's group bits. */
  readonly mask: number | null;
}

/** Decodes an access ACL; returns undefined for a malformed value (wrong version, ragged length, unknown tag). */
export function decodeAclXattr(buf: Uint8Array): DecodedAcl | undefined {
  if (buf.length < 4 || (buf.length - 4) % 8 !== 0) return undefined;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (v.getUint32(0, true) !== POSIX_ACL_XATTR_VERSION) return undefined;
  const users: { id: number; perm: number }[] = [], groups: { id: number; perm: number }[] = [];
  let groupObj = 0, mask: number | null = null;
  for (let off = 4; off < buf.length; off += 8) {
    const tag = v.getUint16(off, true), perm = v.getUint16(off + 2, true) & 7, id = v.getUint32(off + 4, true);
    switch (tag) {
      case ACL_USER_OBJ: case ACL_OTHER: break;
      case ACL_USER: users.push({ id, perm }); break;
      case ACL_GROUP_OBJ: groupObj = perm; break;
      case ACL_GROUP: groups.push({ id, perm }); break;
      case ACL_MASK: mask = perm; break;
      default: return undefined;
    }
  }
  if (users.length === 0 && groups.length === 0) return { acl: null, mask };
  return { acl: { users, groups, groupObj }, mask };
}

/** The inverse, for tests and fixtures: user_obj/other come from `mode`, the mask from its group bits. */
export function encodeAclXattr(acl: ExtendedAcl, mode: number): Uint8Array {
  const entries: Array<[number, number, number]> = [
    [ACL_USER_OBJ, (mode >> 6) & 7, 0xffffffff], ...acl.users.map((u) => [ACL_USER, u.perm, u.id] as [number, number, number]),
    [ACL_GROUP_OBJ, acl.groupObj, 0xffffffff], ...acl.groups.map((g) => [ACL_GROUP, g.perm, g.id] as [number, number, number]),
    [ACL_MASK, (mode >> 3) & 7, 0xffffffff], [ACL_OTHER, mode & 7, 0xffffffff],
  ];
  const out = new Uint8Array(4 + 8 * entries.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, POSIX_ACL_XATTR_VERSION, true);
  entries.forEach(([tag, perm, id], i) => { v.setUint16(4 + 8 * i, tag, true); v.setUint16(6 + 8 * i, perm, true); v.setUint32(8 + 8 * i, id, true); });
  return out;
}
