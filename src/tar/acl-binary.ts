import { ACL_TAG, ACL_UNDEFINED_ID, type AclEntry, encodeAcl } from '../ownership/xattr-codec.js';
import { type AclTextEntry, aclEntries, entryNumericId, parseAclText } from './acl-text.js';

/**
 * A text ACL (SCHILY.acl.access / .default) turned into the binary
 * system.posix_acl_* xattr value the kernel takes, as acl_from_text() +
 * acl_set_file() would: entries sorted by tag then id, permissions as bits.
 * Named entries are resolved with `resolve` (the extracting host's names, as
 * GNU tar does). Pure; the byte layout is ../xattr-codec.ts.
 */

export type AclToXattr =
  | { readonly ok: true; readonly value: Buffer }
  | { readonly ok: false; readonly reason: 'malformed' | 'unresolved'; readonly detail: string };

export type NameResolver = (kind: 'user' | 'group', name: string) => number | undefined;

export function aclTextToXattr(text: string, resolve: NameResolver): AclToXattr {
  const entries: AclEntry[] = [];
  for (const e of aclEntries(parseAclText(text))) {
    const perm = parsePerms(e.perms);
    if (perm === undefined || e.prefix !== '') return { ok: false, reason: 'malformed', detail: `${e.tagText}:${e.qualifier}:${e.perms}` };
    const tag = tagOf(e);
    if (tag === undefined) return { ok: false, reason: 'malformed', detail: `${e.tagText}:${e.qualifier}:${e.perms}` };
    let id = ACL_UNDEFINED_ID;
    if (tag === ACL_TAG.USER || tag === ACL_TAG.GROUP) {
      const kind = tag === ACL_TAG.USER ? 'user' : 'group';
      // A numeric qualifier is an id; a name is looked up; star's trailing id is the fallback.
      const numeric = /^\d+$/.test(e.qualifier) ? Number(e.qualifier) : (resolve(kind, e.qualifier) ?? entryNumericId(e));
      if (numeric === undefined) return { ok: false, reason: 'unresolved', detail: `${kind} ${e.qualifier}` };
      id = numeric;
    }
    entries.push({ tag, perm, id });
  }
  entries.sort((a, b) => a.tag - b.tag || a.id - b.id);
  const bytes = encodeAcl(entries);
  return { ok: true, value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

function tagOf(e: AclTextEntry): number | undefined {
  switch (e.tag) {
    case 'user':
      return e.qualifier === '' ? ACL_TAG.USER_OBJ : ACL_TAG.USER;
    case 'group':
      return e.qualifier === '' ? ACL_TAG.GROUP_OBJ : ACL_TAG.GROUP;
    case 'mask':
      return ACL_TAG.MASK;
    case 'other':
      return ACL_TAG.OTHER;
    default:
      return undefined;
  }
}

/** "rwx", "r-x", "rw" (acl_from_text accepts short forms) → bits r=4 w=2 x=1. */
function parsePerms(p: string): number | undefined {
  if (p.length === 0 || p.length > 3) return undefined;
  let bits = 0;
  for (const c of p) {
    if (c === 'r') bits |= 4;
    else if (c === 'w') bits |= 2;
    else if (c === 'x') bits |= 1;
    else if (c !== '-') return undefined;
  }
  return bits;
}
