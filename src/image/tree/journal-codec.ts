import { FsidmapError } from '../../errors.js';
import type { EntryXattrs, ShiftAction, UnmappedPolicy } from './plan.js';

/**
 * The journal of a tree shift as bytes: a header naming the tree, the map and
 * the options, then every planned action with its values before and after.
 * Pure. Layout (little-endian):
 *
 *   "FSIDMAP-SHIFT-JOURNAL 1\n"  u32 headerLength  header (JSON, UTF-8)  u32 count
 *   count × record:
 *     u32 pathLength  path bytes  f64 ino  u32 mode uid gid newUid newGid
 *     u8 flags  u8 present  then, for each bit of `present` in XATTR_SLOTS order, u32 length + bytes
 */
export interface JournalHeader {
  readonly version: 1;
  /** The tree's real path, as text, and its bytes (latin1) for the system calls. */
  readonly root: string;
  readonly rootBytes: string;
  readonly rootIno: number;
  readonly rootDev: number;
  /** The map as given (kernel format) and the direction it is read in. */
  readonly map: string;
  readonly direction: 'down' | 'up';
  readonly unmapped: UnmappedPolicy;
  readonly crossFilesystems: boolean;
  readonly created: string;
  readonly actions: number;
  /** treeFingerprint of the tree as the shift leaves it (see plan.ts). */
  readonly fingerprintAfter: string;
}

const MAGIC = 'FSIDMAP-SHIFT-JOURNAL 1\n';
type Slot = readonly ['before' | 'after', keyof EntryXattrs];
const XATTR_SLOTS: readonly Slot[] = [
  ['before', 'aclAccess'], ['after', 'aclAccess'], ['before', 'aclDefault'], ['after', 'aclDefault'], ['before', 'capability'], ['after', 'capability'],
];

export function encodeJournal(header: JournalHeader, actions: readonly ShiftAction[]): Uint8Array {
  const head = Buffer.from(JSON.stringify(header), 'utf8');
  let size = MAGIC.length + 4 + head.length + 4;
  for (const a of actions) {
    size += 4 + a.path.length + 8 + 20 + 2;
    for (const [side, key] of XATTR_SLOTS) { const v = a[side][key]; if (v) size += 4 + v.length; }
  }
  const out = Buffer.allocUnsafe(size);
  let at = out.write(MAGIC, 0, 'latin1');
  at = out.writeUInt32LE(head.length, at);
  at += head.copy(out, at);
  at = out.writeUInt32LE(actions.length, at);
  for (const a of actions) {
    at = out.writeUInt32LE(a.path.length, at);
    at += out.write(a.path, at, 'latin1');
    at = out.writeDoubleLE(a.ino, at);
    at = out.writeUInt32LE(a.mode, at);
    at = out.writeUInt32LE(a.uid, at);
    at = out.writeUInt32LE(a.gid, at);
    at = out.writeUInt32LE(a.newUid, at);
    at = out.writeUInt32LE(a.newGid, at);
    at = out.writeUInt8(a.flags, at);
    let present = 0;
    XATTR_SLOTS.forEach(([side, key], bit) => { if (a[side][key]) present |= 1 << bit; });
    at = out.writeUInt8(present, at);
    for (const [side, key] of XATTR_SLOTS) {
      const v = a[side][key];
      if (!v) continue;
      at = out.writeUInt32LE(v.length, at);
      out.set(v, at);
      at += v.length;
    }
  }
  if (at !== size) throw new Error(`journal size mismatch: wrote ${at} of ${size}`);
  return out;
}

export function decodeJournal(bytes: Uint8Array): { header: JournalHeader; actions: ShiftAction[] } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.toString('latin1', 0, MAGIC.length) !== MAGIC) throw corrupt('bad magic');
  let at = MAGIC.length;
  const need = (n: number) => { if (at + n > b.length) throw corrupt(`truncated at byte ${at}`); };
  need(4);
  const headLen = b.readUInt32LE(at); at += 4;
  need(headLen);
  const header = JSON.parse(b.toString('utf8', at, at + headLen)) as JournalHeader;
  at += headLen;
  need(4);
  const count = b.readUInt32LE(at); at += 4;
  if (header.version !== 1 || header.actions !== count) throw corrupt('header does not match the records');
  const actions: ShiftAction[] = new Array(count);
  for (let i = 0; i < count; i++) {
    need(4);
    const pathLen = b.readUInt32LE(at); at += 4;
    need(pathLen + 8 + 20 + 2);
    const path = b.toString('latin1', at, at + pathLen); at += pathLen;
    const ino = b.readDoubleLE(at); at += 8;
    const [mode, uid, gid, newUid, newGid] = [0, 1, 2, 3, 4].map((k) => b.readUInt32LE(at + 4 * k));
    at += 20;
    const flags = b.readUInt8(at++);
    const present = b.readUInt8(at++);
    const before: Record<string, Uint8Array> = {}, after: Record<string, Uint8Array> = {};
    XATTR_SLOTS.forEach(([side, key], bit) => {
      if (!(present & (1 << bit))) return;
      need(4);
      const len = b.readUInt32LE(at); at += 4;
      need(len);
      (side === 'before' ? before : after)[key] = Uint8Array.prototype.slice.call(b, at, at + len);
      at += len;
    });
    actions[i] = { path, ino, mode, uid, gid, newUid, newGid, flags, before, after };
  }
  if (at !== b.length) throw corrupt(`${b.length - at} bytes after the last record`);
  return { header, actions };
}

function corrupt(detail: string): FsidmapError {
  return new FsidmapError('ERR_SHIFT_JOURNAL_CORRUPT', `the shift journal is damaged: ${detail}`, {
    hint: 'the tree may be partly shifted; inspect it with `fsidmap image inspect` before deciding what to do',
  });
}
