import { FsidmapError } from '../errors.js';
import { NO_PARENT, type PathTable, pathListTree } from './path-table.js';
import type { CapabilityPolicy, EntryXattrs, ShiftPlan, UnmappedPolicy } from './plan.js';

/**
 * The journal of a tree shift as bytes: a header naming the tree, the map and
 * the options, then every row of the plan (one per entry read; rows with
 * nothing to do have flags 0) with its values before and after, stored by
 * column so that 10^5 rows encode in a few copies. Pure.
 * Layout (little-endian, no padding):
 *
 *   "FSIDMAP-SHIFT-JOURNAL 5\n"  u32 headerLength  header (JSON, UTF-8)  u32 count
 *   u32 nameBytes  names (latin1 bytes, each followed by NUL; '' for the root, row 0)
 *   u32 parent[count] (the row of each entry's directory, 0xffffffff for the root)
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

const MAGIC = 'FSIDMAP-SHIFT-JOURNAL 5\n';
/**
 * Version 4 stores each entry's whole path instead of its name and
 * directory row (so a deep tree's journal grew with its path bytes: 1,253
 * bytes per entry at mean depth 240); versions 2 (one row per action, every
 * row with steps) and 3 also have no dev column: their rows decode with dev
 * NaN (unknown), which the apply's inode check then leaves out (ino only).
 */
const PATHS_MAGIC = 'FSIDMAP-SHIFT-JOURNAL 4\n';
const OLD_MAGICS = [PATHS_MAGIC, 'FSIDMAP-SHIFT-JOURNAL 3\n', 'FSIDMAP-SHIFT-JOURNAL 2\n'];
const S_IFMT = 0o170000,
  S_IFDIR = 0o040000;
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
  const tree = pathListTree(plan.paths);
  if (tree === null) throw new Error("journal: a planned entry's directory is not among the rows");
  const table = tree.names;
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
  const size = MAGIC.length + 4 + head.length + 4 + 4 + pathBytes + 41 * n + 4 + valueBytes;
  const out = Buffer.allocUnsafe(size);
  let at = out.write(MAGIC, 0, 'latin1');
  at = out.writeUInt32LE(head.length, at);
  at += head.copy(out, at);
  at = out.writeUInt32LE(n, at);
  at = out.writeUInt32LE(pathBytes, at);
  out.set(table.bytes.subarray(0, pathBytes), at);
  at += pathBytes;
  for (const col of [tree.parents, plan.ino, plan.dev, plan.mode, plan.uid, plan.gid, plan.newUid, plan.newGid, plan.flags]) {
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
  const hasDev = magic === MAGIC || magic === PATHS_MAGIC;
  const hasNames = magic === MAGIC;
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
  need(pathBytes + (hasDev ? 37 : 29) * n + (hasNames ? 4 * n : 0) + 4);
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
  const parents = hasNames ? column((x) => new Uint32Array(x), 4) : null;
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
  const table: PathTable = { bytes: pathCopy, offsets };
  if (parents) checkTree(table, parents, mode);
  const paths = parents ? { names: table, parents } : table;
  return { header, plan: { paths, ino, dev, mode, uid, gid, newUid, newGid, flags, before, after } };
}

/**
 * The rows of a version 5 journal must form the tree a scan gives: row 0 the
 * root (no name, no directory), every other row one name (no '/', not . or
 * ..) in a directory row, and no loop, so no path the engine builds from them
 * can leave the tree or go round forever.
 */
function checkTree(names: PathTable, parents: Uint32Array, mode: Uint32Array): void {
  const n = parents.length;
  if (n === 0) return;
  if (parents[0] !== NO_PARENT || names.offsets[1] !== 1) throw corrupt('row 0 is not the root');
  const b = Buffer.from(names.bytes.buffer, names.bytes.byteOffset, names.bytes.byteLength);
  // 1: on a path known to reach the root; 2: being walked now.
  const state = new Uint8Array(n);
  state[0] = 1;
  const walk: number[] = [];
  for (let i = 1; i < n; i++) {
    const start = names.offsets[i],
      len = names.offsets[i + 1] - start - 1;
    if (len === 0 || b.subarray(start, start + len).includes(0x2f)) throw corrupt(`row ${i} has no name or a '/' in it`);
    if ((len === 1 && b[start] === 0x2e) || (len === 2 && b[start] === 0x2e && b[start + 1] === 0x2e))
      throw corrupt(`row ${i} is named . or ..`);
    const up = parents[i];
    if (up >= n || up === i) throw corrupt(`row ${i} names directory row ${up}`);
    if ((mode[up] & S_IFMT) !== S_IFDIR) throw corrupt(`row ${i} is in row ${up}, which is not a directory`);
  }
  for (let i = 1; i < n; i++) {
    let at = i;
    while (state[at] === 0) {
      state[at] = 2;
      walk.push(at);
      at = parents[at];
    }
    if (state[at] === 2) throw corrupt(`the rows' directories loop at row ${at}`);
    for (const k of walk) state[k] = 1;
    walk.length = 0;
  }
}

function corrupt(detail: string): FsidmapError {
  return new FsidmapError('ERR_SHIFT_JOURNAL_CORRUPT', `the shift journal is damaged: ${detail}`, {
    hint: 'the tree may be partly shifted; inspect it with `fsidmap image inspect` before deciding what to do',
  });
}
