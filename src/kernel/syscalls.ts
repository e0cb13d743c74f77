import { lastErrno, libc, syscall, syscallError, SyscallError, closeCall, statxCall } from './libc.js';
import { AT_EMPTY_PATH, AT_FDCWD, MOUNT_ATTR_SIZE_VER0, MOVE_MOUNT_F_EMPTY_PATH, STATX_MNT_ID } from './linux.js';

/**
 * The mount-API system calls glibc 2.36 wraps only partly, called by number
 * through libc's syscall(2). Each wrapper returns the result or throws the
 * SyscallError for errno; the callers (idmapped-mount.ts, probe) turn the
 * ambiguous errnos into the specific causes a user can act on.
 *
 * Numbers: the mount API and pidfd calls share one numbering on every
 * architecture but alpha (kernel-semantics.md §5.1); statx and umount2 go
 * through glibc's own wrappers.
 */
const NUMBERS: Record<string, number> = { open_tree: 428, move_mount: 429, pidfd_send_signal: 424, pidfd_open: 434, mount_setattr: 442 };

function nr(call: string): number {
  const n = NUMBERS[call];
  if (n === undefined || (process.arch as string) === 'alpha')
    throw new SyscallError(call, 38, `fsidmap does not know the number of ${call} on ${process.arch}`);
  return n;
}

const umount2_ = libc.func('int umount2(const char *target, int flags)') as (target: string, flags: number) => number;

export type Hints = Partial<Record<string, string>>;

function check(result: number | bigint, call: string, subject: string, hints: Hints = {}): number {
  const n = Number(result);
  if (n < 0) throw syscallError(call, subject, lastErrno(), hints);
  return n;
}

/** open_tree(AT_FDCWD, path, flags): with OPEN_TREE_CLONE, a detached copy of the mount at path. */
export function openTree(path: string, flags: number, hints?: Hints): number {
  return check(syscall(nr('open_tree'), 'int', AT_FDCWD, 'str', path, 'uint', flags), 'open_tree', path, hints);
}

export interface MountAttr {
  readonly attrSet: number;
  readonly attrClr?: number;
  readonly propagation?: number;
  /** An fd of /proc/PID/ns/user, with MOUNT_ATTR_IDMAP. */
  readonly usernsFd?: number;
}

/** mount_setattr(fd, "", AT_EMPTY_PATH | flags, &attr, 32). */
export function mountSetattr(fd: number, attr: MountAttr, flags: number, subject: string, hints?: Hints): void {
  const buf = Buffer.alloc(MOUNT_ATTR_SIZE_VER0);
  buf.writeBigUInt64LE(BigInt(attr.attrSet), 0);
  buf.writeBigUInt64LE(BigInt(attr.attrClr ?? 0), 8);
  buf.writeBigUInt64LE(BigInt(attr.propagation ?? 0), 16);
  buf.writeBigUInt64LE(BigInt(attr.usernsFd ?? 0), 24);
  check(
    syscall(nr('mount_setattr'), 'int', fd, 'str', '', 'uint', AT_EMPTY_PATH | flags, 'void *', buf, 'size_t', MOUNT_ATTR_SIZE_VER0),
    'mount_setattr',
    subject,
    hints,
  );
}

/** move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH): attach a detached mount at target. */
export function moveMount(fd: number, target: string, hints?: Hints): void {
  check(
    syscall(nr('move_mount'), 'int', fd, 'str', '', 'int', AT_FDCWD, 'str', target, 'uint', MOVE_MOUNT_F_EMPTY_PATH),
    'move_mount',
    target,
    hints,
  );
}

export function umount2(target: string, flags: number, hints?: Hints): void {
  check(umount2_(target, flags), 'umount2', target, hints);
}

export function closeFd(fd: number): void {
  closeCall(fd);
}

/** The id of the mount path is on (statx STATX_MNT_ID), as in the first field of /proc/self/mountinfo. */
export function mountIdOf(path: string): number {
  const buf = Buffer.alloc(256);
  check(statxCall(AT_FDCWD, Buffer.from(`${path}\0`), 0, STATX_MNT_ID, buf), 'statx', path);
  if ((buf.readUInt32LE(0) & STATX_MNT_ID) === 0) throw syscallError('statx', `${path} (no mount id)`, 38 /* ENOSYS */);
  return Number(buf.readBigUInt64LE(0x90));
}

/** pidfd_open(pid, 0): a handle on the process that cannot be confused with a later one of the same number. */
export function pidfdOpen(pid: number): number {
  return check(syscall(nr('pidfd_open'), 'int', pid, 'uint', 0), 'pidfd_open', String(pid));
}

/** pidfd_send_signal(pidfd, sig, NULL, 0). Returns false when the process has already exited (ESRCH). */
export function pidfdSendSignal(pidfd: number, signal: number): boolean {
  const r = Number(syscall(nr('pidfd_send_signal'), 'int', pidfd, 'int', signal, 'void *', null, 'uint', 0));
  if (r >= 0) return true;
  const errno = lastErrno();
  if (errno === 3 /* ESRCH */) return false;
  throw syscallError('pidfd_send_signal', String(signal), errno);
}

export { SyscallError };
