import type { ImageEntry } from '../ownership/entry.js';
import { POSIX_ACL_ACCESS, POSIX_ACL_DEFAULT, SECURITY_CAPABILITY, readCapabilityRoot, readPosixAclIds } from '../ownership/xattr-codec.js';
import { entryNumericId, isQualified, parseAclText } from './acl-text.js';
import type { TarEntry } from './entry-parser.js';

/**
 * A tar entry as the image code sees it (the shape a directory walk also
 * yields): normalized path, owner, mode, link target, and the ids that POSIX
 * ACLs and a v3 file capability name. ACL ids come from the binary xattr copy
 * when the archive has one (it always holds numbers), else from the numeric
 * entries of the text ACL records (named entries name no id). Pure.
 */
export function toImageEntry(e: TarEntry): ImageEntry {
  const aclUids: number[] = [];
  const aclGids: number[] = [];
  for (const [xattr, text] of [
    [POSIX_ACL_ACCESS, e.aclAccess],
    [POSIX_ACL_DEFAULT, e.aclDefault],
  ] as const) {
    const binary = e.xattrs.get(xattr);
    const ids = binary ? readPosixAclIds(binary) : undefined;
    if (ids) {
      aclUids.push(...ids.users);
      aclGids.push(...ids.groups);
    } else if (text !== undefined) {
      for (const p of parseAclText(text).parts) {
        if (!('entry' in p) || !isQualified(p.entry)) continue;
        const id = entryNumericId(p.entry);
        if (id !== undefined) (p.entry.tag === 'user' ? aclUids : aclGids).push(id);
      }
    }
  }
  const cap = e.xattrs.get(SECURITY_CAPABILITY);
  const root = cap ? readCapabilityRoot(cap) : undefined;
  const entry: ImageEntry = {
    path: normalizeEntryPath(e.path),
    type: e.type,
    uid: e.uid,
    gid: e.gid,
    mode: e.mode,
    ...(e.type === 'hardlink' || e.type === 'symlink'
      ? { linkTarget: e.type === 'hardlink' ? normalizeEntryPath(e.linkpath) : e.linkpath }
      : {}),
    ...(aclUids.length > 0 || aclGids.length > 0 ? { aclUids, aclGids } : {}),
    ...(cap ? { hasCapability: true, capRootId: root?.kind === 'v3' ? root.rootid : null } : {}),
  };
  return entry;
}

/** Path relative to the image root, '/'-separated, without leading "./" or "/" or a trailing "/"; "." for the root. */
export function normalizeEntryPath(p: string): string {
  let s = p.replace(/\/{2,}/g, '/');
  while (s.startsWith('./')) s = s.slice(2);
  s = s.replace(/^\/+/, '').replace(/\/+$/, '');
  if (s === '' || s === '.') return '.';
  return s;
}
