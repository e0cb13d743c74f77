import { type AclTextEntry, aclEntries, entryNumericId, parseAclText } from './acl-text.js';
import { ACL_GROUP, ACL_USER } from './xattr-ids.js';

/**
 * A text ACL (SCHILY.acl.access / .default) turned into the binary
 * system.posix_acl_* xattr value the kernel takes, as acl_from_text() +
 * acl_set_file() would: entries sorted by tag then id, permissions as bits.
 * Named entries are resolved with `resolve` (the extracting host's names, as
 * GNU tar does). Pure.
 */
const ACL_USER_OBJ = 0x01;
const ACL_GROUP_OBJ = 0x04;
const ACL_MASK = 0x10;
const ACL_OTHER = 0x20;
const UNDEFINED_ID = 0xffffffff;

export type AclToXattr =
  | { readonly ok: true; readonly value: Buffer }
  | { readonly ok: false; readonly reason: 'malformed' | 'unresolved'; readonly detail: string };

export type NameResolver = (kind: 'user' | 'group', name: string) => number | undefined;

export function aclTextToXattr(text: string, resolve: NameResolver): AclToXattr {
  const entries: Array<{ tag: number; perm: number; id: number }> = [];
  for (const e of aclEntries(parseAclText(text))) {
    const perm = parsePerms(e.perms);
    if (perm === undefined || e.prefix !== '') return { ok: false, reason: 'malformed', detail: `${e.tagText}:${e.qualifier}:${e.perms}` };
    const tag = tagOf(e);
    if (tag === undefined) return { ok: false, reason: 'malformed', detail: `${e.tagText}:${e.qualifier}:${e.perms}` };
    let id = UNDEFINED_ID;
    if (tag === ACL_USER || tag === ACL_GROUP) {
      const kind = tag === ACL_USER ? 'user' : 'group';
      // A numeric qualifier is an id; a name is looked up; star's trailing id is the fallback.
      const numeric = /^\d+$/.test(e.qualifier) ? Number(e.qualifier) : resolve(kind, e.qualifier) ?? entryNumericId(e);
      if (numeric === undefined) return { ok: false, reason: 'unresolved', detail: `${kind} ${e.qualifier}` };
      id = numeric;
    }
    entries.push({ tag, perm, id });
  }
  entries.sort((a, b) => a.tag - b.tag || a.id - b.id);
  const out = Buffer.alloc(4 + 8 * entries.length);
  out.writeUInt32LE(2, 0);
  entries.forEach((e, i) => {
    out.writeUInt16LE(e.tag, 4 + i * 8);
    out.writeUInt16LE(e.perm, 6 + i * 8);
    out.writeUInt32LE(e.id, 8 + i * 8);
  });
  return { ok: true, value: out };
}

function tagOf(e: AclTextEntry): number | undefined {
  switch (e.tag) {
    case 'user': return e.qualifier === '' ? ACL_USER_OBJ : ACL_USER;
    case 'group': return e.qualifier === '' ? ACL_GROUP_OBJ : ACL_GROUP;
    case 'mask': return ACL_MASK;
    case 'other': return ACL_OTHER;
    default: return undefined;
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
