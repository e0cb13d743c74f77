import { ACL_TAG, ACL_UNDEFINED_ID, type AclEntry, encodeAcl, readAclEntries } from '../ownership/xattr-codec.js';
import type { ExtendedAcl } from './inode.js';

/**
 * system.posix_acl_access as the permission model sees it: the named users
 * and groups, group_obj and the mask. Ids are raw on-disk ids. The byte
 * layout is src/ownership/xattr-codec.ts; reading the xattr is getXattrLenient
 * in src/kernel/file/xattr.ts. Pure.
 */
export interface DecodedAcl {
  /** The extended part, or null for a minimal ACL (which says no more than the mode). */
  readonly acl: ExtendedAcl | null;
  /** The mask entry, which the kernel keeps equal to the mode's group bits. */
  readonly mask: number | null;
}

/** Decodes an access ACL; returns undefined for a malformed value (wrong version, ragged length, unknown tag). */
export function decodeAclXattr(buf: Uint8Array): DecodedAcl | undefined {
  const entries = readAclEntries(buf);
  if (entries === undefined) return undefined;
  const users: { id: number; perm: number }[] = [],
    groups: { id: number; perm: number }[] = [];
  let groupObj = 0,
    mask: number | null = null;
  for (const e of entries) {
    const perm = e.perm & 7;
    switch (e.tag) {
      case ACL_TAG.USER_OBJ:
      case ACL_TAG.OTHER:
        break;
      case ACL_TAG.USER:
        users.push({ id: e.id, perm });
        break;
      case ACL_TAG.GROUP_OBJ:
        groupObj = perm;
        break;
      case ACL_TAG.GROUP:
        groups.push({ id: e.id, perm });
        break;
      case ACL_TAG.MASK:
        mask = perm;
        break;
      default:
        return undefined;
    }
  }
  if (users.length === 0 && groups.length === 0) return { acl: null, mask };
  return { acl: { users, groups, groupObj }, mask };
}

/** The inverse, for tests and fixtures: user_obj/other come from `mode`, the mask from its group bits. */
export function encodeAclXattr(acl: ExtendedAcl, mode: number): Uint8Array {
  const entry = (tag: number, perm: number, id: number = ACL_UNDEFINED_ID): AclEntry => ({ tag, perm, id });
  return encodeAcl([
    entry(ACL_TAG.USER_OBJ, (mode >> 6) & 7),
    ...acl.users.map((u) => entry(ACL_TAG.USER, u.perm, u.id)),
    entry(ACL_TAG.GROUP_OBJ, acl.groupObj),
    ...acl.groups.map((g) => entry(ACL_TAG.GROUP, g.perm, g.id)),
    entry(ACL_TAG.MASK, (mode >> 3) & 7),
    entry(ACL_TAG.OTHER, mode & 7),
  ]);
}
