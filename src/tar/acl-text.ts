/**
 * POSIX ACLs as text, the form of the PAX records SCHILY.acl.access and
 * SCHILY.acl.default. GNU tar writes acl_to_text() output: entries separated
 * by newlines, named entries by name when the id resolved on the archiving
 * host ("user:daemon:rwx") and by number otherwise ("user:1234:rwx"). Star
 * separates by commas and appends the numeric id to named entries
 * ("user:joe:rw-:1001"); GNU tar strips that fourth field when it reads.
 * Both are parsed here, and the text is written back in the form it came in.
 */
export type AclTag = 'user' | 'group' | 'mask' | 'other' | 'unknown';

export interface AclTextEntry {
  /** "default:" or "d:" when the entry is written with that prefix, else "". */
  readonly prefix: string;
  readonly tag: AclTag;
  /** The tag as written ("user" or "u"). */
  readonly tagText: string;
  /** Empty for the owner/owning group/mask/other entries. */
  readonly qualifier: string;
  readonly perms: string;
  /** Fields after the permissions: star's numeric id, or anything else kept verbatim. */
  readonly extra: readonly string[];
}

export interface AclText {
  /** Entries and, between them, the separators and comments exactly as written. */
  readonly parts: ReadonlyArray<{ readonly entry: AclTextEntry } | { readonly raw: string }>;
}

const TAGS: Record<string, AclTag> = {
  user: 'user',
  u: 'user',
  group: 'group',
  g: 'group',
  mask: 'mask',
  m: 'mask',
  other: 'other',
  o: 'other',
};

export function parseAclText(text: string): AclText {
  const parts: Array<{ entry: AclTextEntry } | { raw: string }> = [];
  // Split keeping separators (newline, comma) and "#" comments as raw parts.
  const re = /([^\n,#]*)((?:#[^\n]*)?[\n,]?)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null && m[0].length > 0) {
    const body = m[1];
    const trimmed = body.trim();
    if (trimmed.length > 0) {
      const lead = body.slice(0, body.indexOf(trimmed));
      const trail = body.slice(lead.length + trimmed.length);
      if (lead) parts.push({ raw: lead });
      parts.push({ entry: parseEntry(trimmed) });
      if (trail) parts.push({ raw: trail });
    } else if (body) parts.push({ raw: body });
    if (m[2]) parts.push({ raw: m[2] });
  }
  return { parts };
}

function parseEntry(text: string): AclTextEntry {
  let rest = text;
  let prefix = '';
  const pm = /^(default:|d:)/.exec(rest);
  // Take the prefix only when a tag follows it, so a malformed entry stays as written.
  if (pm && /^(user|u|group|g|mask|m|other|o):/.test(rest.slice(pm[0].length))) {
    prefix = pm[0];
    rest = rest.slice(prefix.length);
  }
  const fields = rest.split(':');
  const tagText = fields[0];
  return {
    prefix,
    tag: TAGS[tagText] ?? 'unknown',
    tagText,
    qualifier: fields[1] ?? '',
    perms: fields[2] ?? '',
    extra: fields.slice(3),
  };
}

export function formatAclText(acl: AclText): string {
  return acl.parts.map((p) => ('raw' in p ? p.raw : formatEntry(p.entry))).join('');
}

function formatEntry(e: AclTextEntry): string {
  return [`${e.prefix}${e.tagText}`, e.qualifier, e.perms, ...e.extra].join(':');
}

export function aclEntries(acl: AclText): AclTextEntry[] {
  const out: AclTextEntry[] = [];
  for (const p of acl.parts) if ('entry' in p) out.push(p.entry);
  return out;
}

/** The id an entry names by number, if it does: the qualifier itself, or star's trailing id field. */
export function entryNumericId(e: AclTextEntry): number | undefined {
  if (e.tag !== 'user' && e.tag !== 'group') return undefined;
  if (/^\d{1,10}$/.test(e.qualifier) && Number(e.qualifier) <= 0xffffffff) return Number(e.qualifier);
  if (e.qualifier !== '' && e.extra.length > 0 && /^\d{1,10}$/.test(e.extra[0]) && Number(e.extra[0]) <= 0xffffffff)
    return Number(e.extra[0]);
  return undefined;
}

/** True for entries with a user or group qualifier (named or numeric): ACL_USER and ACL_GROUP. */
export function isQualified(e: AclTextEntry): boolean {
  return (e.tag === 'user' || e.tag === 'group') && e.qualifier !== '';
}

/** Returns a copy of the ACL with `fn` applied to every entry. */
export function mapAclEntries(acl: AclText, fn: (e: AclTextEntry, index: number) => AclTextEntry): AclText {
  let i = 0;
  return { parts: acl.parts.map((p) => ('raw' in p ? p : { entry: fn(p.entry, i++) })) };
}
