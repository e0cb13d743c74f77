import { closeRaw, openDirectoryRaw } from '../kernel/file/dirent.js';
import { checkEntryRaw, chmodEntryRaw, chownEntryRaw, closeEntry, openEntryRaw, setXattrEntryRaw } from '../kernel/file/entry-fd.js';
import { POSIX_ACL_ACCESS, POSIX_ACL_DEFAULT, SECURITY_CAPABILITY } from '../ownership/xattr-codec.js';
import { ACTION } from './plan.js';
import { type PathTable, pathAt, pathCount } from './path-table.js';
import type { OpFailure, XattrValue } from './scan-ops.js';
import { ENOENT } from '../kernel/linux.js';

/**
 * Carries out one batch of a shift plan. Every step writes an absolute value
 * taken from the plan (never "the current id plus an offset"), so running a
 * step again after an interruption gives the same result: that is what makes
 * a resumed shift exact.
 *
 * Order per inode: lchown (which clears setuid/setgid and security.capability
 * on non-directories), then chmod to put the mode bits back, then the ACLs,
 * then the capability. Each entry is opened once (O_PATH, no final symlink
 * followed), checked to be the planned inode (dev, ino), and changed through
 * that fd only (src/kernel/file/entry-fd.ts): a path that leads elsewhere now —
 * a swapped directory on the way, a mount over it — fails its row untouched.
 */
export interface ApplyBatch {
  readonly table: PathTable;
  /** The inode each path was planned for (dev NaN: unknown, ino only). */
  readonly ino: Float64Array;
  readonly dev: Float64Array;
  /** ACTION bits per path. */
  readonly flags: Uint8Array;
  readonly uid: Uint32Array;
  readonly gid: Uint32Array;
  /** The mode to restore (permission bits incl. setuid/setgid/sticky). */
  readonly mode: Uint32Array;
  /** New xattr values, by path index within the batch. */
  readonly xattrs: XattrValue[];
}

export interface ApplyResult {
  readonly done: number;
  readonly failure: OpFailure | null;
}

const XATTR_FOR: Array<[number, string]> = [
  [ACTION.ACL_ACCESS, POSIX_ACL_ACCESS],
  [ACTION.ACL_DEFAULT, POSIX_ACL_DEFAULT],
  [ACTION.CAPABILITY, SECURITY_CAPABILITY],
];

/**
 * Entries are opened relative to an open fd of their parent directory: no
 * lookup from / for each entry, which
 * threads would otherwise contend on (the root dentry's reference count), and
 * entries come grouped by directory, so one open serves many.
 */
class ParentDirs {
  private dir: Buffer | null = null;
  private fd = -1;

  /** [dirfd, name] for an absolute NUL-terminated path, or null for "/" itself; -errno when the parent cannot be opened. */
  split(p: Buffer): [number, Buffer] | number | null {
    const slash = p.lastIndexOf(0x2f, p.length - 2);
    if (slash < 0 || p.length <= 2) return null;
    const dirLen = slash === 0 ? 1 : slash;
    if (this.dir === null || this.dir.length !== dirLen + 1 || p.compare(this.dir, 0, dirLen, 0, dirLen) !== 0) {
      this.close();
      const dir = Buffer.alloc(dirLen + 1);
      p.copy(dir, 0, 0, dirLen);
      const fd = openDirectoryRaw(dir);
      if (fd < 0) return fd;
      this.dir = dir;
      this.fd = fd;
    }
    return [this.fd, p.subarray(slash + 1)];
  }

  close(): void {
    if (this.fd >= 0) closeRaw(this.fd);
    this.fd = -1;
    this.dir = null;
  }
}

export function applyBatch(batch: ApplyBatch, report?: (done: number) => void, reportEvery = 2048): ApplyResult {
  const parents = new ParentDirs();
  try {
    return applyAll(batch, parents, report, reportEvery);
  } finally {
    parents.close();
  }
}

function applyAll(batch: ApplyBatch, parents: ParentDirs, report: ((done: number) => void) | undefined, reportEvery: number): ApplyResult {
  const n = pathCount(batch.table);
  const byIndex = new Map<number, XattrValue[]>();
  for (const x of batch.xattrs) {
    const list = byIndex.get(x.i);
    if (list) list.push(x);
    else byIndex.set(x.i, [x]);
  }
  for (let i = 0; i < n; i++) {
    const f = batch.flags[i];
    if (f !== 0) {
      const failure = applyOne(batch, parents, i, f, byIndex.get(i) ?? []);
      if (failure) return { done: i, failure };
    }
    if (report && (i + 1) % reportEvery === 0) report(i + 1);
  }
  return { done: n, failure: null };
}

const AT_FDCWD = -100;

function applyOne(batch: ApplyBatch, parents: ParentDirs, i: number, f: number, values: XattrValue[]): OpFailure | null {
  const p = pathAt(batch.table, i);
  const at = parents.split(p);
  if (typeof at === 'number') return { index: i, call: 'open (parent directory)', errno: -at };
  const fd = at ? openEntryRaw(at[0], at[1]) : openEntryRaw(AT_FDCWD, p);
  if (fd < 0) return { index: i, call: 'open (entry)', errno: -fd };
  try {
    const check = checkEntryRaw(fd, batch.ino[i], batch.dev[i]);
    if (check.rc < 0) return { index: i, call: 'inode check', errno: -check.rc };
    if (f & ACTION.CHOWN) {
      const r = chownEntryRaw(fd, batch.uid[i], batch.gid[i]);
      if (r < 0) return { index: i, call: 'lchown', errno: -r };
    }
    // Symlinks have no mode, ACLs or capabilities of their own (the plan gives them none).
    if (check.isSymlink) return null;
    if (f & ACTION.CHMOD) {
      const r = chmodEntryRaw(fd, batch.mode[i]);
      if (r < 0) return { index: i, call: r === -ENOENT ? 'open /proc/self/fd' : 'chmod', errno: -r };
    }
    for (const [bit, name] of XATTR_FOR) {
      if (!(f & bit)) continue;
      const v = values.find((x) => x.name === name);
      if (!v) return { index: i, call: `lsetxattr ${name} (no value in plan)`, errno: 22 };
      const r = setXattrEntryRaw(fd, name, v.value);
      // ENOENT: the fd is open, so only /proc/self/fd itself can be missing.
      if (r < 0) return { index: i, call: r === -ENOENT ? 'open /proc/self/fd' : `lsetxattr ${name}`, errno: -r };
    }
    return null;
  } finally {
    closeEntry(fd);
  }
}
