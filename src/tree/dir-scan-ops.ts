import { DT, closeRaw, listDirectoryRaw, listXattrsAtRaw, openDirectoryRaw } from '../kernel/file/dirent.js';
import { STATX, STATX_SIZE, statxAtRaw, statxDev, statxIno } from '../kernel/file/inode.js';
import { getXattrRaw, listXattrsRaw } from '../kernel/file/xattr.js';
import { joinRoot } from './path-table.js';
import { type XattrValue, idXattrsToRead } from './scan-ops.js';
import type { InodeColumns } from '../ownership/columns.js';

/**
 * Reads whole directories for a scan: opens each (never through a symlink),
 * lists it, and stats each entry and lists its xattrs relative to the open
 * directory. Subdirectories come back to the caller, which hands them out
 * again, so the walk itself spreads over the threads. An entry on another
 * mount (different stx_mnt_id, which also catches bind mounts that st_dev
 * misses; a bind-mounted file too) is neither entered nor reported as an
 * entry unless asked: the C engine does the same.
 */
export interface DirScanTask {
  readonly root: string;
  /** Relative paths (latin1) of the directories to read. */
  readonly dirs: readonly string[];
  readonly rootMount: number;
  readonly crossFilesystems: boolean;
}

export interface DirScanResult extends InodeColumns {
  /** Relative paths (latin1) of the entries found. */
  readonly paths: string[];
  /** By index into paths. */
  readonly xattrs: XattrValue[];
  /** Directories to read next (relative), and "dev:ino" of each (to stop at cycles when crossing mounts). */
  readonly subdirs: string[];
  readonly subdirKeys: string[];
  /** Paths (indexes) that are immutable or append-only (chattr +i/+a): no chown can succeed there. */
  readonly locked: number[];
  readonly skippedMounts: string[];
  readonly failure: { readonly path: string; readonly call: string; readonly errno: number } | null;
}

const S_IFMT = 0o170000,
  S_IFDIR = 0o040000,
  S_IFLNK = 0o120000;
/** stx_attributes bits (include/uapi/linux/stat.h). */
const STATX_ATTR_IMMUTABLE = 0x10,
  STATX_ATTR_APPEND = 0x20;

export function scanDirectories(task: DirScanTask): DirScanResult {
  const paths: string[] = [];
  const uid: number[] = [],
    gid: number[] = [],
    mode: number[] = [],
    nlink: number[] = [],
    ino: number[] = [],
    dev: number[] = [];
  const xattrs: XattrValue[] = [];
  const subdirs: string[] = [],
    subdirKeys: string[] = [],
    skippedMounts: string[] = [];
  const locked: number[] = [];
  const buf = Buffer.alloc(STATX_SIZE);
  const nameBuf = Buffer.alloc(4097);
  let failure: DirScanResult['failure'] = null;
  outer: for (const dir of task.dirs) {
    const fd = openDirectoryRaw(Buffer.from(joinRoot(task.root, dir) + '\0', 'latin1'));
    if (fd < 0) {
      failure = { path: dir, call: 'open', errno: -fd };
      break;
    }
    try {
      const listing = listDirectoryRaw(fd);
      if (typeof listing === 'number') {
        failure = { path: dir, call: 'getdents64', errno: -listing };
        break;
      }
      const prefix = dir === '' ? '' : dir + '/';
      for (let k = 0; k < listing.names.length; k++) {
        const rel = prefix + listing.names[k];
        // One reused buffer for the NUL-terminated name: no allocation per entry.
        nameBuf[nameBuf.write(listing.names[k], 0, 'latin1')] = 0;
        const name = nameBuf;
        const r = statxAtRaw(fd, name, buf);
        if (r < 0) {
          failure = { path: rel, call: 'statx', errno: -r };
          break outer;
        }
        const m = buf.readUInt16LE(STATX.mode);
        const type = m & S_IFMT;
        // Any entry on another mount (a bind-mounted file too) belongs to another tree.
        const mnt = buf.readUInt32LE(STATX.mntId + 4) * 4294967296 + buf.readUInt32LE(STATX.mntId);
        if (mnt !== task.rootMount && !task.crossFilesystems) {
          skippedMounts.push(rel);
          continue;
        }
        if (type === S_IFDIR) {
          subdirs.push(rel);
          subdirKeys.push(`${statxDev(buf)}:${statxIno(buf)}`);
        }
        const i = paths.length;
        if (buf.readUInt32LE(STATX.attributes) & (STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND)) locked.push(i);
        paths.push(rel);
        uid.push(buf.readUInt32LE(STATX.uid));
        gid.push(buf.readUInt32LE(STATX.gid));
        mode.push(m);
        nlink.push(buf.readUInt32LE(STATX.nlink));
        ino.push(statxIno(buf));
        dev.push(statxDev(buf));
        // Symlinks carry no ACLs or capabilities (the kernel refuses both on them).
        if (type === S_IFLNK || listing.types[k] === DT.LNK) continue;
        let full: Buffer | null = null;
        let listed = listXattrsAtRaw(fd, name);
        if (listed === undefined) listed = listXattrsRaw((full = Buffer.from(joinRoot(task.root, rel) + '\0', 'latin1')));
        const names = idXattrsToRead(listed);
        if (typeof names === 'number') {
          failure = { path: rel, call: 'listxattr', errno: -names };
          break outer;
        }
        for (const x of names) {
          full ??= Buffer.from(joinRoot(task.root, rel) + '\0', 'latin1');
          const v = getXattrRaw(full, x);
          if (typeof v === 'number') {
            failure = { path: rel, call: `lgetxattr ${x}`, errno: -v };
            break outer;
          }
          if (v !== null) xattrs.push({ i, name: x, value: new Uint8Array(v) });
        }
      }
    } finally {
      closeRaw(fd);
    }
  }
  return {
    paths,
    uid: Uint32Array.from(uid),
    gid: Uint32Array.from(gid),
    mode: Uint32Array.from(mode),
    nlink: Uint32Array.from(nlink),
    ino: Float64Array.from(ino),
    dev: Float64Array.from(dev),
    xattrs,
    subdirs,
    subdirKeys,
    locked,
    skippedMounts,
    failure,
  };
}

export function dirScanTransfer(r: DirScanResult): ArrayBuffer[] {
  return [r.uid.buffer, r.gid.buffer, r.mode.buffer, r.nlink.buffer, r.ino.buffer, r.dev.buffer] as ArrayBuffer[];
}
