import { fstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { lastErrno, libc, syscallError, closeCall } from '../libc.js';
import { pidfdSendSignal } from '../syscalls.js';
import { NS_GET_OWNER_UID, NS_GET_PARENT, NS_GET_USERNS } from '../linux.js';

/**
 * What a descriptor received from an untrusted peer is, found without
 * touching its file system: readlink of /proc/self/fd/N is answered from the
 * dentry name (nsfs gives "user:[ino]", a pidfd "anon_inode:[pidfd]"), while
 * fstat or an ioctl on a FUSE file would wait for the FUSE server, which the
 * peer may run. Only descriptors classified here as a user namespace or a
 * pidfd are ever used (or closed in the calling thread) by fsidmap.
 */
export type ReceivedFdKind =
  | { readonly kind: 'userns'; readonly inode: number }
  | { readonly kind: 'namespace'; readonly type: string }
  | { readonly kind: 'pidfd' }
  | { readonly kind: 'other'; readonly link: string };

export function classifyFd(fd: number): ReceivedFdKind {
  let link: string;
  try {
    link = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return { kind: 'other', link: '(unreadable)' };
  }
  const ns = /^([a-z_]+):\[(\d+)\]$/.exec(link);
  if (ns && ns[1] === 'user') return { kind: 'userns', inode: Number(ns[2]) };
  if (ns && ['mnt', 'pid', 'net', 'ipc', 'uts', 'cgroup', 'time', 'pid_for_children', 'time_for_children'].includes(ns[1]))
    return { kind: 'namespace', type: ns[1] };
  if (link === 'anon_inode:[pidfd]' || /^pidfd:\[\d+\]$/.test(link)) return { kind: 'pidfd' };
  return { kind: 'other', link: link.length > 200 ? `${link.slice(0, 200)}…` : link };
}

const ioctlPtr = libc.func('int ioctl(int fd, unsigned long request, ...)');

/** Device and inode: two namespace descriptors name the same namespace iff these match. */
export interface NsIdentity {
  readonly dev: number;
  readonly ino: number;
}

/** Identity of a descriptor already classified as a namespace or pidfd (fstat is safe on those). */
export function fdIdentity(fd: number): NsIdentity {
  const st = fstatSync(fd);
  return { dev: st.dev, ino: st.ino };
}

export function sameIdentity(a: NsIdentity, b: NsIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** The user namespace fsidmap itself runs in. */
export function ownUserns(): NsIdentity {
  const st = statSync('/proc/self/ns/user');
  return { dev: st.dev, ino: st.ino };
}

/** NS_GET_OWNER_UID: the uid (in the caller's namespace) that created the user namespace. */
export function usernsOwnerUid(nsFd: number): number {
  const out = Buffer.alloc(4);
  if (ioctlPtr(nsFd, NS_GET_OWNER_UID, 'uint8_t *', out) < 0) throw syscallError('ioctl', 'NS_GET_OWNER_UID');
  return out.readUInt32LE(0);
}

/**
 * NS_GET_PARENT: identity of the parent user namespace, or null when it is
 * outside what the caller may see (EPERM) — so never the initial namespace.
 */
export function usernsParent(nsFd: number): NsIdentity | null {
  const parent = Number(ioctlPtr(nsFd, NS_GET_PARENT));
  if (parent < 0) {
    const e = lastErrno();
    if (e === 1 /* EPERM */) return null;
    throw syscallError('ioctl', 'NS_GET_PARENT', e);
  }
  try {
    return fdIdentity(parent);
  } finally {
    closeCall(parent);
  }
}

/** NS_GET_USERNS on a non-user namespace: the user namespace owning it. */
export function owningUserns(nsFd: number): NsIdentity {
  const fd = Number(ioctlPtr(nsFd, NS_GET_USERNS));
  if (fd < 0) throw syscallError('ioctl', 'NS_GET_USERNS');
  try {
    return fdIdentity(fd);
  } finally {
    closeCall(fd);
  }
}

/**
 * The pid (in fsidmap's pid namespace) a pidfd refers to, from
 * /proc/self/fdinfo; null once the process has exited and been reaped
 * (the kernel then reports -1).
 */
export function pidOfPidfd(pidfd: number): number | null {
  const info = readFileSync(`/proc/self/fdinfo/${pidfd}`, 'latin1');
  const m = /^Pid:\s*(-?\d+)/m.exec(info);
  if (!m) throw syscallError('read', `/proc/self/fdinfo/${pidfd} (no Pid: line)`, 22);
  const pid = Number(m[1]);
  return pid > 0 ? pid : null;
}

/** pidfd_send_signal(pidfd, 0): true while the process has not exited. */
export function pidfdAlive(pidfd: number): boolean {
  return pidfdSendSignal(pidfd, 0);
}
