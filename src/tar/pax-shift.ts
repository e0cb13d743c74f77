import {
  POSIX_ACL_ACCESS,
  POSIX_ACL_DEFAULT,
  SECURITY_CAPABILITY,
  namespaceCapabilityValue,
  readCapabilityRoot,
  readPosixAclIds,
  rewriteCapabilityRoot,
  rewritePosixAclIds,
} from '../ownership/xattr-codec.js';
import { type AclTextEntry, entryNumericId, formatAclText, isQualified, mapAclEntries, parseAclText } from './acl-text.js';
import type { IdKind, IdShifter, IdSite } from './id-shift.js';
import { type PaxRecord, paxRecord, parsePaxId } from './pax.js';
import type { WarningSink } from './warnings.js';

/**
 * Rewrites the id-bearing records of one PAX header: uid, gid, uname, gname,
 * the text ACLs (SCHILY.acl.access, SCHILY.acl.default), and the binary
 * xattrs posix_acl_* and security.capability under both the SCHILY.xattr.
 * and LIBARCHIVE.xattr. namespaces. Every other record is returned as the
 * same object, so callers can tell whether anything changed. Pure.
 */
export interface PaxShiftResult {
  readonly records: PaxRecord[];
  readonly changed: boolean;
  /** Whether the records set the uid/gid (non-empty value), delete it (empty value: back to the header field) or say nothing. */
  readonly ids: { readonly uid: PaxIdRecord; readonly gid: PaxIdRecord };
}

export type PaxIdRecord = 'set' | 'delete' | 'none';

export interface PaxShiftContext {
  readonly shifter: IdShifter;
  readonly path: string;
  readonly scope: 'local' | 'global';
  readonly warn: WarningSink;
  readonly offset: number;
}

const ACL_TEXT: Record<string, string> = { 'SCHILY.acl.access': POSIX_ACL_ACCESS, 'SCHILY.acl.default': POSIX_ACL_DEFAULT };

export function shiftPaxRecords(records: readonly PaxRecord[], ctx: PaxShiftContext): PaxShiftResult {
  const { shifter } = ctx;
  const out: PaxRecord[] = [];
  let changed = false;
  const ids: { uid: PaxIdRecord; gid: PaxIdRecord } = { uid: 'none', gid: 'none' };
  const site = (where: IdSite['where']): IdSite => ({
    path: ctx.path,
    where: ctx.scope === 'global' && where === 'pax' ? 'global-pax' : where,
  });
  const uid = (where: IdSite['where']) => (id: number) => shifter.shift('uid', id, site(where));
  const gid = (where: IdSite['where']) => (id: number) => shifter.shift('gid', id, site(where));

  for (const r of records) {
    const { key } = r;
    if (key === 'uid' || key === 'gid') {
      ids[key] = r.value.length > 0 ? 'set' : 'delete';
      if (r.value.length === 0) {
        out.push(r);
        continue;
      }
      const id = parsePaxId(r.value);
      if (id === undefined) {
        ctx.warn({
          code: 'TAR_PAX_BAD_ID',
          message: `${ctx.path}: PAX ${key} "${r.value.toString('latin1').slice(0, 40)}" is not a decimal id; left as written`,
          offset: ctx.offset,
          path: ctx.path,
        });
        out.push(r);
        continue;
      }
      const to = shifter.shift(key as IdKind, id, site('pax'));
      if (to === id) out.push(r);
      else {
        out.push(paxRecord(key, String(to)));
        changed = true;
      }
      continue;
    }
    if (key === 'uname' || key === 'gname') {
      if (shifter.names === 'clear') changed = true;
      else out.push(r);
      continue;
    }
    if (key in ACL_TEXT) {
      const binary = records.find((x) => x.key === `SCHILY.xattr.${ACL_TEXT[key]}`);
      const next = shiftAclText(r, binary?.value, ctx, uid('acl'), gid('acl'));
      out.push(next);
      if (next !== r) changed = true;
      continue;
    }
    if (key === 'SCHILY.acl.ace') {
      ctx.warn({
        code: 'TAR_NFS4_ACL_UNSHIFTED',
        message: `${ctx.path}: NFSv4 ACL (SCHILY.acl.ace) passed through unshifted`,
        offset: ctx.offset,
        path: ctx.path,
      });
      out.push(r);
      continue;
    }
    const xattr = xattrName(key);
    if (xattr !== undefined) {
      const next = shiftXattrRecord(r, xattr, ctx, uid, gid);
      out.push(next);
      if (next !== r) changed = true;
      continue;
    }
    out.push(r);
  }
  return { records: changed ? out : [...records], changed, ids };
}

/** The xattr name a record carries, for the two namespaces that store xattrs; undefined for other keys. */
function xattrName(key: string): { name: string; encoding: 'raw' | 'libarchive' } | undefined {
  if (key.startsWith('SCHILY.xattr.')) return { name: key.slice(13), encoding: 'raw' };
  if (key.startsWith('LIBARCHIVE.xattr.')) {
    // libarchive percent-encodes the name and base64-encodes the value.
    try {
      return { name: decodeURIComponent(key.slice(17)), encoding: 'libarchive' };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function shiftXattrRecord(
  r: PaxRecord,
  xattr: { name: string; encoding: 'raw' | 'libarchive' },
  ctx: PaxShiftContext,
  uid: (w: IdSite['where']) => (id: number) => number,
  gid: (w: IdSite['where']) => (id: number) => number,
): PaxRecord {
  const isAcl = xattr.name === POSIX_ACL_ACCESS || xattr.name === POSIX_ACL_DEFAULT;
  if (!isAcl && xattr.name !== SECURITY_CAPABILITY) return r;
  const raw = xattr.encoding === 'raw' ? r.value : Buffer.from(r.value.toString('latin1'), 'base64');
  let next: Buffer | undefined;
  if (isAcl) next = rewritePosixAclIds(raw, uid('xattr-acl'), gid('xattr-acl'));
  else {
    const kind = readCapabilityRoot(raw).kind;
    const v2Root = ctx.shifter.v2CapRoot;
    if (kind === 'v3') next = rewriteCapabilityRoot(raw, uid('capability'));
    else if (kind === 'v1-v2' && v2Root !== undefined) next = namespaceCapabilityValue(raw, v2Root);
    else next = raw;
  }
  if (next === undefined) {
    ctx.warn({
      code: 'TAR_XATTR_MALFORMED',
      message: `${ctx.path}: ${xattr.name} xattr value is malformed (${raw.length} bytes); left as written`,
      offset: ctx.offset,
      path: ctx.path,
    });
    return r;
  }
  if (next.equals(raw)) return r;
  return { key: r.key, value: xattr.encoding === 'raw' ? next : Buffer.from(encodeBase64Like(next, r.value), 'latin1') };
}

/** libarchive writes base64 without padding; keep whichever style the record used. */
function encodeBase64Like(value: Buffer, original: Buffer): string {
  const b64 = value.toString('base64');
  return original.includes(0x3d) ? b64 : b64.replace(/=+$/, '');
}

/**
 * One text ACL record. Numeric entries are mapped; star's trailing id field
 * is mapped; named entries (GNU tar writes names that resolved on the
 * archiving host) are found by position in the binary xattr copy of the same
 * ACL when the archive has one (--xattrs), since both list ACL_USER and
 * ACL_GROUP entries in the same order. With names 'clear' a named entry is
 * rewritten to its new number, because the name would resolve on the
 * extracting host to an unshifted id.
 */
function shiftAclText(
  r: PaxRecord,
  binary: Buffer | undefined,
  ctx: PaxShiftContext,
  uid: (id: number) => number,
  gid: (id: number) => number,
): PaxRecord {
  const acl = parseAclText(r.value.toString('utf8'));
  const entries: AclTextEntry[] = [];
  for (const p of acl.parts) if ('entry' in p) entries.push(p.entry);
  if (entries.some((e) => e.tag === 'unknown' || e.perms === '')) {
    ctx.warn({
      code: 'TAR_ACL_MALFORMED',
      message: `${ctx.path}: ${r.key} has an entry that is not tag:qualifier:perms; left as written`,
      offset: ctx.offset,
      path: ctx.path,
    });
    return r;
  }
  const aligned = alignNamedEntries(entries, binary);
  const counters = { user: 0, group: 0 };
  let changed = false;
  const next = mapAclEntries(acl, (e) => {
    if (!isQualified(e)) return e;
    const kind = e.tag as 'user' | 'group';
    const position = counters[kind]++;
    const fn = kind === 'user' ? uid : gid;
    const numericQualifier = /^\d+$/.test(e.qualifier);
    const id = entryNumericId(e) ?? aligned?.[kind][position];
    if (id === undefined) {
      ctx.warn({
        code: 'TAR_ACL_NAMED_ENTRY',
        message: `${ctx.path}: ${r.key} entry "${e.tag}:${e.qualifier}" names no id (archive made without --xattrs?); left as written`,
        offset: ctx.offset,
        path: ctx.path,
      });
      return e;
    }
    const to = fn(id);
    let out: AclTextEntry;
    if (numericQualifier)
      out = {
        ...e,
        qualifier: String(to),
        extra: e.extra.length > 0 && /^\d+$/.test(e.extra[0]) ? [String(to), ...e.extra.slice(1)] : e.extra,
      };
    else if (ctx.shifter.names === 'clear')
      out = { ...e, qualifier: String(to), extra: e.extra.length > 0 && /^\d+$/.test(e.extra[0]) ? e.extra.slice(1) : e.extra };
    else out = e.extra.length > 0 && /^\d+$/.test(e.extra[0]) ? { ...e, extra: [String(to), ...e.extra.slice(1)] } : e;
    if (out !== e && (out.qualifier !== e.qualifier || out.extra.join(':') !== e.extra.join(':'))) changed = true;
    return out;
  });
  return changed ? paxRecord(r.key, formatAclText(next)) : r;
}

/**
 * The binary ACL's ids per tag, if they line up with the text: same number
 * of user and group entries, and every numeric text entry equal to the id at
 * its position. Otherwise undefined (no guessing).
 */
function alignNamedEntries(entries: readonly AclTextEntry[], binary: Buffer | undefined): { user: number[]; group: number[] } | undefined {
  if (binary === undefined) return undefined;
  const ids = readPosixAclIds(binary);
  if (ids === undefined) return undefined;
  const byTag = { user: ids.users, group: ids.groups };
  const seen = { user: 0, group: 0 };
  for (const e of entries) {
    if (!isQualified(e)) continue;
    const kind = e.tag as 'user' | 'group';
    const i = seen[kind]++;
    const n = entryNumericId(e);
    if (i >= byTag[kind].length || (n !== undefined && byTag[kind][i] !== n)) return undefined;
  }
  if (seen.user !== ids.users.length || seen.group !== ids.groups.length) return undefined;
  return byTag;
}
