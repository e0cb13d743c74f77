import { newInodeColumns } from '../ownership/index.js';
import { STATX, STATX_SIZE, statxDev, statxIno, statxRaw } from '../kernel/file/inode.js';
import { getXattrRaw, listXattrsRaw } from '../kernel/file/xattr.js';
import { POSIX_ACL_ACCESS, POSIX_ACL_DEFAULT, SECURITY_CAPABILITY } from '../ownership/xattr-codec.js';
import { type PathTable, pathAt, pathCount } from './path-table.js';
import type { InodeColumns } from '../ownership/columns.js';
import { E2BIG, EOPNOTSUPP } from '../kernel/linux.js';

/**
 * Reads what a shift needs of each path: statx (owner, mode, inode, links)
 * and the xattrs that hold ids. Runs in a worker thread or inline; columns
 * come back as typed arrays so they cross threads without copying.
 */
export const ID_XATTRS: readonly string[] = [POSIX_ACL_ACCESS, POSIX_ACL_DEFAULT, SECURITY_CAPABILITY];

export interface XattrValue {
  /** Index of the path within its batch. */
  readonly i: number;
  readonly name: string;
  readonly value: Uint8Array;
}

export interface OpFailure {
  readonly index: number;
  readonly call: string;
  readonly errno: number;
}

export interface ScanBatch extends InodeColumns {
  readonly xattrs: XattrValue[];
  readonly failure: OpFailure | null;
}

/**
 * Which of ID_XATTRS to read, from listxattr's answer (names or -errno):
 * those listed; all three by name when the list is over 64 KiB (E2BIG:
 * tmpfs, XFS and btrfs allow that); none on a filesystem without xattrs
 * (no ACLs or capabilities to move there); else the -errno to report.
 */
export function idXattrsToRead(listed: string[] | number): readonly string[] | number {
  if (listed === -E2BIG) return ID_XATTRS;
  if (listed === -EOPNOTSUPP) return [];
  if (typeof listed === 'number') return listed;
  return listed.filter((name) => ID_XATTRS.includes(name));
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

export function scanBatch(table: PathTable): ScanBatch {
  const n = pathCount(table);
  const { uid, gid, mode, nlink, ino, dev } = newInodeColumns(n);
  const xattrs: XattrValue[] = [];
  const buf = Buffer.alloc(STATX_SIZE);
  let failure: OpFailure | null = null;
  for (let i = 0; i < n; i++) {
    const p = pathAt(table, i);
    const r = statxRaw(p, buf);
    if (r < 0) {
      failure = { index: i, call: 'statx', errno: -r };
      break;
    }
    uid[i] = buf.readUInt32LE(STATX.uid);
    gid[i] = buf.readUInt32LE(STATX.gid);
    const m = buf.readUInt16LE(STATX.mode);
    mode[i] = m;
    nlink[i] = buf.readUInt32LE(STATX.nlink);
    ino[i] = statxIno(buf);
    dev[i] = statxDev(buf);
    // Symlinks carry no ACLs or capabilities (the kernel refuses both on them).
    if ((m & S_IFMT) === S_IFLNK) continue;
    const names = idXattrsToRead(listXattrsRaw(p));
    if (typeof names === 'number') {
      failure = { index: i, call: 'llistxattr', errno: -names };
      break;
    }
    for (const name of names) {
      const v = getXattrRaw(p, name);
      if (typeof v === 'number') {
        failure = { index: i, call: `lgetxattr ${name}`, errno: -v };
        break;
      }
      if (v !== null) xattrs.push({ i, name, value: new Uint8Array(v) });
    }
    if (failure) break;
  }
  return { uid, gid, mode, nlink, ino, dev, xattrs, failure };
}

/** The buffers a ScanBatch can hand to postMessage's transfer list. */
export function scanTransfer(b: ScanBatch): ArrayBuffer[] {
  return [b.uid.buffer, b.gid.buffer, b.mode.buffer, b.nlink.buffer, b.ino.buffer, b.dev.buffer] as ArrayBuffer[];
}
