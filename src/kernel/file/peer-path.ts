import { constants } from 'node:fs';
import { FsidmapError } from '../../errors.js';
import { lastErrno, libc, syscall, syscallError, closeCall, statxCall } from '../libc.js';
import { readMountinfo } from '../mount/mountinfo.js';
import {
  AT_EMPTY_PATH,
  AT_STATX_DONT_SYNC,
  AT_SYMLINK_NOFOLLOW,
  O_CLOEXEC,
  O_PATH,
  RESOLVE_BENEATH,
  RESOLVE_NO_MAGICLINKS,
  RESOLVE_NO_SYMLINKS,
  STATX_MNT_ID,
} from '../linux.js';

/**
 * Opening a path on behalf of a peer, so that what is checked is what is
 * used: the path is walked one component at a time from "/", each opened
 * with openat2(O_PATH | O_NOFOLLOW, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
 * | RESOLVE_BENEATH) relative to the previous descriptor, and each is
 * described with statx on that descriptor (AT_STATX_DONT_SYNC, so a remote
 * or FUSE file system is not asked) before the next is opened. A component
 * swapped for a symlink is refused; one swapped for another directory after
 * it was opened changes nothing, because the walk goes on from the
 * descriptor, never from the name again. The caller's `inspect` sees every
 * component and may stop the walk.
 *
 * The walk runs with the peer's file-system identity (fsuid, fsgid and
 * supplementary groups of the calling thread only, see withFsIdentity), so
 * the kernel itself decides whether the peer may search each directory,
 * ACLs included: the broker never opens what the peer could not reach.
 */

const STATX_WANT = 0x1 | 0x2 | 0x8 | 0x10 | 0x100 | 0x1000; // TYPE MODE UID GID INO MNT_ID
const NO_PATH = Buffer.from([0]);
const SYS_openat2 = 437;

const setfsuid_ = libc.func('int setfsuid(uint32_t uid)') as (u: number) => number;
const setfsgid_ = libc.func('int setfsgid(uint32_t gid)') as (g: number) => number;

/** The raw setgroups/getgroups numbers: glibc's wrappers change every thread, the raw call only this one. */
const GROUPS_SYSCALLS: Record<string, { get: number; set: number }> = { x64: { get: 115, set: 116 }, arm64: { get: 158, set: 159 } };

export interface FsIdentity {
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
}

/**
 * Runs fn (synchronous) with this thread's fsuid, fsgid and supplementary
 * groups set to the peer's, and restores root's afterwards. Linux keeps
 * credentials per thread; only the raw syscalls are used, so no other
 * thread of the process changes. If root's identity cannot be restored the
 * process aborts rather than go on serving with a peer's identity.
 */
export function withFsIdentity<T>(id: FsIdentity, fn: () => T): T {
  const nr = GROUPS_SYSCALLS[process.arch];
  if (!nr) throw new FsidmapError('ERR_UNSUPPORTED_ARCH', `fsidmap does not know the setgroups syscall number on ${process.arch}`);
  const saved = new Uint32Array(1024);
  const n = Number(syscall(nr.get, 'int', saved.length, 'uint32_t *', saved));
  if (n < 0) throw syscallError('getgroups', 'self');
  const groups = Uint32Array.from(id.groups.slice(0, 1024));
  if (Number(syscall(nr.set, 'size_t', groups.length, 'uint32_t *', groups)) < 0) throw syscallError('setgroups', 'peer groups');
  setfsgid_(id.gid);
  setfsuid_(id.uid);
  try {
    // setfsuid answers the previous value and never fails loudly: ask again to be sure it took.
    if (setfsuid_(0xffffffff) !== id.uid || setfsgid_(0xffffffff) !== id.gid) {
      throw new FsidmapError('ERR_FSID_SWITCH', `could not take the peer's file-system identity ${id.uid}:${id.gid}`);
    }
    return fn();
  } finally {
    setfsuid_(0);
    setfsgid_(0);
    const restored = Number(syscall(nr.set, 'size_t', n, 'uint32_t *', saved)) === 0;
    if (!restored || setfsuid_(0xffffffff) !== 0 || setfsgid_(0xffffffff) !== 0) {
      process.stderr.write("fsidmap: fatal: could not restore root's file-system identity after a peer walk\n");
      process.abort();
    }
  }
}

export interface PathComponent {
  /** The path up to and including this component ("/" for the root). */
  readonly path: string;
  readonly type: 'directory' | 'file' | 'symlink' | 'other';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly ino: number;
  readonly mountId: number;
  /** From /proc/self/mountinfo, by mount id ("?" if the mount is not listed). */
  readonly fsType: string;
  readonly last: boolean;
}

/** Why to stop the walk (a rule name and a sentence about the component), or null to go on. */
export type Inspect = (c: PathComponent) => { readonly rule: string; readonly reason: string } | null;

export interface WalkResult {
  /** O_PATH descriptor of the final component; the caller closes it. */
  readonly fd: number;
  readonly components: readonly PathComponent[];
}

/** The absolute path's components, or a reason it is not one fsidmap will walk. */
export function splitPeerPath(path: string): string[] | string {
  if (typeof path !== 'string' || !path.startsWith('/')) return 'the path must be absolute';
  if (path.length > 4095 || path.includes('\0')) return 'the path is too long or contains a NUL byte';
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '.' || p === '..')) return 'the path may not contain "." or ".." components';
  if (parts.some((p) => Buffer.byteLength(p) > 255)) return 'a path component is longer than 255 bytes';
  return parts;
}

/**
 * Walks path as described above and returns the final descriptor, or
 * throws ERR_BROKER_PATH with the reason (an inspect refusal, a symlink, a
 * missing component, a search permission the peer lacks).
 */
export function walkPeerPath(path: string, id: FsIdentity, inspect: Inspect): WalkResult {
  const parts = splitPeerPath(path);
  if (typeof parts === 'string') throw pathError(path, parts, 'not-absolute');
  const fsTypes = mountFsTypes();
  const components: PathComponent[] = [];
  return withFsIdentity(id, () => {
    let fd = open2(-100 /* AT_FDCWD */, '/', constants.O_DIRECTORY);
    if (fd < 0) throw syscallError('openat2', '/');
    try {
      let sofar = '';
      const look = (last: boolean) => {
        const c = describe(fd, sofar === '' ? '/' : sofar, last, fsTypes);
        components.push(c);
        const why = inspect(c);
        if (why !== null) throw pathError(c.path, why.reason, why.rule);
      };
      look(parts.length === 0);
      for (let i = 0; i < parts.length; i++) {
        const last = i === parts.length - 1;
        const next = open2(fd, parts[i], last ? 0 : constants.O_DIRECTORY);
        sofar += `/${parts[i]}`;
        if (next < 0) {
          let e = lastErrno();
          if (e === 20 /* ENOTDIR */ && isSymlinkAt(fd, parts[i], sofar, fsTypes)) e = 40;
          const why =
            e === 40 /* ELOOP */
              ? 'is a symbolic link (fsidmap never follows links in a mount source)'
              : e === 2
                ? 'does not exist'
                : e === 13
                  ? 'cannot be searched by the peer'
                  : e === 20
                    ? 'is not a directory'
                    : `cannot be opened (errno ${e})`;
          throw pathError(sofar, why, e === 40 ? 'symlink' : 'open');
        }
        closeCall(fd);
        fd = next;
        look(last);
      }
      const result = fd;
      fd = -1;
      return { fd: result, components };
    } finally {
      if (fd >= 0) closeCall(fd);
    }
  });
}

/** O_DIRECTORY | O_NOFOLLOW answers ENOTDIR for a symlink: look at the name itself to say which it was. */
function isSymlinkAt(dirfd: number, name: string, path: string, fsTypes: Map<number, string>): boolean {
  const fd = open2(dirfd, name, 0);
  if (fd < 0) return false;
  try {
    return describe(fd, path, false, fsTypes).type === 'symlink';
  } finally {
    closeCall(fd);
  }
}

function open2(dirfd: number, name: string, extra: number): number {
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(O_PATH | constants.O_NOFOLLOW | O_CLOEXEC | extra), 0);
  how.writeBigUInt64LE(BigInt(RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | (dirfd >= 0 ? RESOLVE_BENEATH : 0)), 16);
  return Number(syscall(SYS_openat2, 'int', dirfd, 'str', name, 'void *', how, 'size_t', 24));
}

function describe(fd: number, path: string, last: boolean, fsTypes: Map<number, string>): PathComponent {
  const buf = Buffer.alloc(256);
  if (statxCall(fd, NO_PATH, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, STATX_WANT, buf) < 0)
    throw syscallError('statx', path);
  const mode = buf.readUInt16LE(0x1c);
  const fmt = mode & 0o170000;
  const type = fmt === 0o040000 ? 'directory' : fmt === 0o100000 ? 'file' : fmt === 0o120000 ? 'symlink' : 'other';
  const mountId = (buf.readUInt32LE(0) & STATX_MNT_ID) !== 0 ? Number(buf.readBigUInt64LE(0x90)) : -1;
  return {
    path,
    type,
    mode: mode & 0o7777,
    uid: buf.readUInt32LE(0x14),
    gid: buf.readUInt32LE(0x18),
    ino: Number(buf.readBigUInt64LE(0x20)),
    mountId,
    fsType: fsTypeAt(fsTypes, mountId),
    last,
  };
}

/** Mount id → file-system type, from this process's mountinfo. */
/**
 * The type of the component's mount, at the point of use: a mount id not in
 * the table read before the walk is a mount that appeared since (perhaps a
 * FUSE one the peer just made), so mountinfo is read again; "?" when still
 * unknown (the source policy refuses it).
 */
function fsTypeAt(fsTypes: Map<number, string>, mountId: number): string {
  if (!fsTypes.has(mountId)) for (const [id, t] of mountFsTypes()) fsTypes.set(id, t);
  return fsTypes.get(mountId) ?? '?';
}

export function mountFsTypes(): Map<number, string> {
  return new Map(readMountinfo().map((m) => [m.id, m.fsType]));
}

function pathError(path: string, why: string, rule: string): FsidmapError {
  return new FsidmapError('ERR_BROKER_PATH', `${path} ${why}`, { context: { path, rule } });
}
