import { FsidmapError } from '../errors.js';
import { pathListTable } from './path-table.js';
import type { CapabilityPolicy, EntryXattrs, ShiftPlan, UnmappedPolicy } from './plan.js';

/**
 * The journal of a tree shift as bytes: a header naming the tree, the map and
 * the options, then every row of the plan (one per entry read; rows with
 * nothing to do have flags 0) with its values before and after, stored by
 * column so that 10^5 rows encode in a few copies. Pure.
 * Layout (little-endian, no padding):
 *
 *   "FSIDMAP-SHIFT-JOURNAL 4\n"  u32 headerLength  header (JSON, UTF-8)  u32 count
 *   u32 pathBytes  paths (latin1 bytes, each followed by NUL)
 *   f64 ino[count]  f64 dev[count]  u32 mode[count] uid[count] gid[count] newUid[count] newGid[count]  u8 flags[count]
 *   u32 xattrCount, then per xattr value: u32 row  u8 slot (XATTR_SLOTS)  u32 length  bytes
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
  /** Absent in journals written before it existed, which kept v2 capabilities (CapabilityPolicy 'keep-v2'). */
  readonly capabilities?: CapabilityPolicy;
  readonly created: string;
  /** Rows in the journal (all entries read, not only those that change). */
  readonly actions: number;
  /** treeFingerprint of the tree as the shift leaves it (see plan.ts). */
  readonly fingerprintAfter: string;
}

const MAGIC = 'FSIDMAP-SHIFT-JOURNAL 4\n';
/**
 * Versions 2 (one row per action, every row with steps) and 3 have no dev
 * column and otherwise the same layout: their rows decode with dev NaN
 * (unknown), which the apply's inode check then leaves out (ino only).
 */
const OLD_MAGICS = ['FSIDMAP-SHIFT-JOURNAL 3\n', 'FSIDMAP-SHIFT-JOURNAL 2\n'];
type Slot = readonly ['before' | 'after', keyof EntryXattrs];
const XATTR_SLOTS: readonly Slot[] = [
  ['before', 'aclAccess'],
  ['after', 'aclAccess'],
  ['before', 'aclDefault'],
  ['after', 'aclDefault'],
  ['before', 'capability'],
  ['after', 'capability'],
];

/** The plan's columns are written as they are: no object or string per row. */
export function encodeJournal(header: JournalHeader, plan: ShiftPlan): Uint8Array {
  const n = plan.flags.length;
  const head = Buffer.from(JSON.stringify(header), 'utf8');
  const table = pathListTable(plan.paths);
  const pathBytes = table.offsets[n];
  const values: Array<[number, number, Uint8Array]> = [];
  let valueBytes = 0;
  for (const [i, after] of plan.after) {
    const before = plan.before.get(i) ?? {};
    XATTR_SLOTS.forEach(([side, key], slot) => {
      const v = (side === 'before' ? before : after)[key];
      if (v) {
        values.push([i, slot, v]);
        valueBytes += 9 + v.length;
      }
    });
  }
  const size = MAGIC.length + 4 + head.length + 4 + 4 + pathBytes + 37 * n + 4 + valueBytes;
  const out = Buffer.allocUnsafe(size);
  let at = out.write(MAGIC, 0, 'latin1');
  at = out.writeUInt32LE(head.length, at);
  at += head.copy(out, at);
  at = out.writeUInt32LE(n, at);
  at = out.writeUInt32LE(pathBytes, at);
  out.set(table.bytes.subarray(0, pathBytes), at);
  at += pathBytes;
  for (const col of [plan.ino, plan.dev, plan.mode, plan.uid, plan.gid, plan.newUid, plan.newGid, plan.flags]) {
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

export function decodeJournal(bytes: Uint8Array): { header: JournalHeader; plan: ShiftPlan } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = b.toString('latin1', 0, MAGIC.length);
  if (magic !== MAGIC && !OLD_MAGICS.includes(magic)) throw corrupt('bad magic or version');
  const hasDev = magic === MAGIC;
  let at = MAGIC.length;
  const need = (k: number) => {
    if (at + k > b.length) throw corrupt(`truncated at byte ${at}`);
  };
  need(4);
  const headLen = b.readUInt32LE(at);
  at += 4;
  need(headLen);
  let header: JournalHeader;
  try {
    header = JSON.parse(b.toString('utf8', at, at + headLen)) as JournalHeader;
  } catch {
    throw corrupt('header is not JSON');
  }
  at += headLen;
  need(8);
  const n = b.readUInt32LE(at);
  at += 4;
  if (header.version !== 1 || header.actions !== n) throw corrupt('header does not match the records');
  const pathBytes = b.readUInt32LE(at);
  at += 4;
  need(pathBytes + (hasDev ? 37 : 29) * n + 4);
  const pathCopy = new Uint8Array(pathBytes);
  pathCopy.set(b.subarray(at, at + pathBytes));
  const offsets = new Uint32Array(n + 1);
  for (let i = 0, p = 0; i < n; i++) {
    offsets[i] = p;
    const nul = pathCopy.indexOf(0, p);
    if (nul < 0) throw corrupt('path count does not match');
    p = nul + 1;
    if (i === n - 1 && p !== pathBytes) throw corrupt('path count does not match');
  }
  if (n === 0 && pathBytes !== 0) throw corrupt('path count does not match');
  offsets[n] = pathBytes;
  at += pathBytes;
  const column = <T>(make: (buf: ArrayBuffer) => T, width: number): T => {
    const copy = new Uint8Array(width * n);
    copy.set(b.subarray(at, at + width * n));
    at += width * n;
    return make(copy.buffer);
  };
  const ino = column((x) => new Float64Array(x), 8);
  const dev = hasDev ? column((x) => new Float64Array(x), 8) : new Float64Array(n).fill(NaN);
  const [mode, uid, gid, newUid, newGid] = [0, 1, 2, 3, 4].map(() => column((x) => new Uint32Array(x), 4));
  const flags = column((x) => new Uint8Array(x), 1);
  const before = new Map<number, Record<string, Uint8Array>>(),
    after = new Map<number, Record<string, Uint8Array>>();
  const count = b.readUInt32LE(at);
  at += 4;
  for (let k = 0; k < count; k++) {
    need(9);
    const i = b.readUInt32LE(at),
      slot = b.readUInt8(at + 4),
      len = b.readUInt32LE(at + 5);
    at += 9;
    need(len);
    if (i >= n || slot >= XATTR_SLOTS.length) throw corrupt(`xattr record ${k} names row ${i} slot ${slot}`);
    const [side, key] = XATTR_SLOTS[slot];
    const into = side === 'before' ? before : after;
    if (!into.has(i)) into.set(i, {});
    (into.get(i) as Record<string, Uint8Array>)[key] = new Uint8Array(b.subarray(at, at + len));
    at += len;
  }
  if (at !== b.length) throw corrupt(`${b.length - at} bytes after the last record`);
  // Every row with xattr values has an entry in both maps (an absent value is "none").
  for (const i of before.keys()) if (!after.has(i)) after.set(i, {});
  for (const i of after.keys()) if (!before.has(i)) before.set(i, {});
  return { header, plan: { paths: { bytes: pathCopy, offsets }, ino, dev, mode, uid, gid, newUid, newGid, flags, before, after } };
}

function corrupt(detail: string): FsidmapError {
  return new FsidmapError('ERR_SHIFT_JOURNAL_CORRUPT', `the shift journal is damaged: ${detail}`, {
    hint: 'the tree may be partly shifted; inspect it with `fsidmap image inspect` before deciding what to do',
  });
}
