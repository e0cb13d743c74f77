import { FsidmapError } from '../../errors.js';
import { type EntryXattrs, NO_XATTRS, type ShiftAction, type UnmappedPolicy } from './plan.js';

/**
 * The journal of a tree shift as bytes: a header naming the tree, the map and
 * the options, then every planned action with its values before and after,
 * stored by column so that 10^5 actions encode in a few copies. Pure.
 * Layout (little-endian, no padding):
 *
 *   "FSIDMAP-SHIFT-JOURNAL 2\n"  u32 headerLength  header (JSON, UTF-8)  u32 count
 *   u32 pathBytes  paths (latin1 bytes, each followed by NUL)
 *   f64 ino[count]  u32 mode[count] uid[count] gid[count] newUid[count] newGid[count]  u8 flags[count]
 *   u32 xattrCount, then per xattr value: u32 action  u8 slot (XATTR_SLOTS)  u32 length  bytes
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

const MAGIC = 'FSIDMAP-SHIFT-JOURNAL 2\n';
type Slot = readonly ['before' | 'after', keyof EntryXattrs];
const XATTR_SLOTS: readonly Slot[] = [
  ['before', 'aclAccess'], ['after', 'aclAccess'], ['before', 'aclDefault'], ['after', 'aclDefault'], ['before', 'capability'], ['after', 'capability'],
];
const EMPTY = NO_XATTRS;

export function encodeJournal(header: JournalHeader, actions: readonly ShiftAction[]): Uint8Array {
  const n = actions.length;
  const head = Buffer.from(JSON.stringify(header), 'utf8');
  const paths = n === 0 ? '' : actions.map((a) => a.path).join('\0') + '\0';
  const ino = new Float64Array(n);
  const cols = [new Uint32Array(n), new Uint32Array(n), new Uint32Array(n), new Uint32Array(n), new Uint32Array(n)];
  const flags = new Uint8Array(n);
  const values: Array<[number, number, Uint8Array]> = [];
  let valueBytes = 0;
  for (let i = 0; i < n; i++) {
    const a = actions[i];
    ino[i] = a.ino; cols[0][i] = a.mode; cols[1][i] = a.uid; cols[2][i] = a.gid; cols[3][i] = a.newUid; cols[4][i] = a.newGid; flags[i] = a.flags;
    if (a.before === EMPTY && a.after === EMPTY) continue;
    XATTR_SLOTS.forEach(([side, key], slot) => {
      const v = a[side][key];
      if (v) { values.push([i, slot, v]); valueBytes += 9 + v.length; }
    });
  }
  const size = MAGIC.length + 4 + head.length + 4 + 4 + paths.length + 8 * n + 20 * n + n + 4 + valueBytes;
  const out = Buffer.allocUnsafe(size);
  let at = out.write(MAGIC, 0, 'latin1');
  at = out.writeUInt32LE(head.length, at);
  at += head.copy(out, at);
  at = out.writeUInt32LE(n, at);
  at = out.writeUInt32LE(paths.length, at);
  at += out.write(paths, at, 'latin1');
  for (const col of [ino, ...cols, flags]) {
    out.set(new Uint8Array(col.buffer, col.byteOffset, col.byteLength), at);
    at += col.byteLength;
  }
  at = out.writeUInt32LE(values.length, at);
  for (const [i, slot, v] of values) {
    at = out.writeUInt32LE(i, at);
    at = out.writeUInt8(slot, at);
    at = out.writeUInt32LE(v.length, at);
    out.set(v, at);
    at += v.length;
  }
  if (at !== size) throw new Error(`journal size mismatch: wrote ${at} of ${size}`);
  return out;
}

export function decodeJournal(bytes: Uint8Array): { header: JournalHeader; actions: ShiftAction[] } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.toString('latin1', 0, MAGIC.length) !== MAGIC) throw corrupt('bad magic or version');
  let at = MAGIC.length;
  const need = (k: number) => { if (at + k > b.length) throw corrupt(`truncated at byte ${at}`); };
  need(4);
  const headLen = b.readUInt32LE(at); at += 4;
  need(headLen);
  const header = JSON.parse(b.toString('utf8', at, at + headLen)) as JournalHeader;
  at += headLen;
  need(8);
  const n = b.readUInt32LE(at); at += 4;
  if (header.version !== 1 || header.actions !== n) throw corrupt('header does not match the records');
  const pathBytes = b.readUInt32LE(at); at += 4;
  need(pathBytes + 29 * n + 4);
  const paths = n === 0 ? [] : b.toString('latin1', at, at + pathBytes - 1).split('\0');
  at += pathBytes;
  if (paths.length !== n) throw corrupt('path count does not match');
  const column = <T>(make: (buf: ArrayBuffer) => T, width: number): T => {
    const copy = new Uint8Array(width * n);
    copy.set(b.subarray(at, at + width * n));
    at += width * n;
    return make(copy.buffer);
  };
  const ino = column((x) => new Float64Array(x), 8);
  const [mode, uid, gid, newUid, newGid] = [0, 1, 2, 3, 4].map(() => column((x) => new Uint32Array(x), 4));
  const flags = column((x) => new Uint8Array(x), 1);
  const before: Array<Record<string, Uint8Array>> = [], after: Array<Record<string, Uint8Array>> = [];
  const count = b.readUInt32LE(at); at += 4;
  for (let k = 0; k < count; k++) {
    need(9);
    const i = b.readUInt32LE(at), slot = b.readUInt8(at + 4), len = b.readUInt32LE(at + 5);
    at += 9;
    need(len);
    if (i >= n || slot >= XATTR_SLOTS.length) throw corrupt(`xattr record ${k} names action ${i} slot ${slot}`);
    const [side, key] = XATTR_SLOTS[slot];
    const into = side === 'before' ? before : after;
    (into[i] ??= {})[key] = new Uint8Array(b.subarray(at, at + len));
    at += len;
  }
  if (at !== b.length) throw corrupt(`${b.length - at} bytes after the last record`);
  const actions: ShiftAction[] = new Array(n);
  for (let i = 0; i < n; i++) {
    actions[i] = {
      path: paths[i], ino: ino[i], mode: mode[i], uid: uid[i], gid: gid[i], newUid: newUid[i], newGid: newGid[i], flags: flags[i],
      before: before[i] ?? EMPTY, after: after[i] ?? EMPTY,
    };
  }
  return { header, actions };
}

function corrupt(detail: string): FsidmapError {
  return new FsidmapError('ERR_SHIFT_JOURNAL_CORRUPT', `the shift journal is damaged: ${detail}`, {
    hint: 'the tree may be partly shifted; inspect it with `fsidmap image inspect` before deciding what to do',
  });
}
