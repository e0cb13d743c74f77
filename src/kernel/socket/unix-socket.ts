import { readdirSync, readFileSync } from 'node:fs';
import koffi from 'koffi';
import { lastErrno, libc, syscallError, closeCall } from '../libc.js';
import {
  AF_UNIX,
  EAGAIN,
  EINTR,
  F_GETFL,
  F_SETFL,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  O_NONBLOCK,
  SCM_RIGHTS,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
  SO_PEERCRED,
  SO_PEERGROUPS,
  SUN_PATH_MAX,
} from '../linux.js';
export { POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT } from '../linux.js';

/**
 * Unix stream sockets through libc, for the broker and its client. Node's
 * net module reads with read(2), which drops SCM_RIGHTS file descriptors,
 * and hides SO_PEERCRED; so fsidmap owns these sockets end to end: every
 * read and write here is a non-blocking recvmsg/sendmsg, and waiting is a
 * poll(2) run on koffi's worker threads (pollReady) so the event loop never
 * blocks. Messages carry at most MAX_FDS descriptors; the kernel drops any
 * others (fput, never close(2)) because the control buffer has no room.
 *
 * Layouts are x86_64/aarch64 Linux (LP64): struct msghdr 56 bytes, struct
 * cmsghdr 16 bytes, struct pollfd 8 bytes, struct ucred 12 bytes.
 */

/** The most descriptors one message may carry; extra ones are dropped by the kernel. */
export const MAX_FDS = 4;
/** The most bytes one receive returns. */
export const MAX_CHUNK = 65536;

const socket_ = libc.func('int socket(int domain, int type, int protocol)') as (d: number, t: number, p: number) => number;
const bind_ = libc.func('int bind(int fd, const void *addr, uint32_t len)') as (fd: number, a: Buffer, l: number) => number;
const listen_ = libc.func('int listen(int fd, int backlog)') as (fd: number, b: number) => number;
const connect_ = libc.func('int connect(int fd, const void *addr, uint32_t len)') as (fd: number, a: Buffer, l: number) => number;
const accept4_ = libc.func('int accept4(int fd, void *addr, void *len, int flags)') as (fd: number, a: null, l: null, f: number) => number;
const getsockopt_ = libc.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)') as (
  fd: number,
  level: number,
  name: number,
  val: Buffer,
  len: number[],
) => number;
const setsockopt_ = libc.func('int setsockopt(int fd, int level, int name, const uint8_t *val, uint32_t len)') as (
  fd: number,
  level: number,
  name: number,
  val: Buffer,
  len: number,
) => number;
const recvmsg_ = libc.func('intptr_t recvmsg(int fd, void *msg, int flags)') as (
  fd: number,
  msg: unknown,
  flags: number,
) => number | bigint;
const sendmsg_ = libc.func('intptr_t sendmsg(int fd, void *msg, int flags)') as (
  fd: number,
  msg: unknown,
  flags: number,
) => number | bigint;
const poll_ = libc.func('int poll(void *fds, unsigned long nfds, int timeout)');
const socketpair_ = libc.func('int socketpair(int d, int t, int p, _Out_ int *sv)') as (
  d: number,
  t: number,
  p: number,
  sv: Int32Array,
) => number;

/** Native scratch memory for the synchronous calls (one thread uses it at a time: the main thread). */
class Scratch {
  readonly msg = koffi.alloc('uint8', 56);
  readonly iov = koffi.alloc('uint8', 16);
  readonly control = koffi.alloc('uint8', cmsgSpace(MAX_FDS * 4));
  readonly data = koffi.alloc('uint8', MAX_CHUNK);
  readonly msgView = new DataView(koffi.view(this.msg, 56));
  readonly iovView = new DataView(koffi.view(this.iov, 16));
  readonly controlView = new DataView(koffi.view(this.control, cmsgSpace(MAX_FDS * 4)));
  readonly dataView = new Uint8Array(koffi.view(this.data, MAX_CHUNK));
}

let scratch: Scratch | null = null;
function mem(): Scratch {
  scratch ??= new Scratch();
  return scratch;
}

function cmsgAlign(n: number): number {
  return (n + 7) & ~7;
}

function cmsgSpace(n: number): number {
  return 16 + cmsgAlign(n);
}

function sockaddr(path: string): { buf: Buffer; len: number } {
  const bytes = Buffer.from(path, 'utf8');
  if (bytes.length === 0 || bytes.length >= SUN_PATH_MAX) {
    throw syscallError('bind', path, 36 /* ENAMETOOLONG */, {
      ENAMETOOLONG: `a Unix socket path must be 1–${SUN_PATH_MAX - 1} bytes long`,
    });
  }
  const buf = Buffer.alloc(2 + SUN_PATH_MAX);
  buf.writeUInt16LE(AF_UNIX, 0);
  bytes.copy(buf, 2);
  return { buf, len: 2 + bytes.length + 1 };
}

/** A listening socket at path (which must not exist), non-blocking and close-on-exec. */
export function unixListen(path: string, backlog = 128): number {
  const fd = socket_(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw syscallError('socket', 'AF_UNIX');
  const addr = sockaddr(path);
  if (bind_(fd, addr.buf, addr.len) < 0) {
    const e = lastErrno();
    closeCall(fd);
    throw syscallError('bind', path, e, { EADDRINUSE: `${path} exists: another broker may be running; remove the file if it is stale` });
  }
  if (listen_(fd, backlog) < 0) {
    const e = lastErrno();
    closeCall(fd);
    throw syscallError('listen', path, e);
  }
  return fd;
}

/** A connected client socket (blocking connect, then non-blocking I/O), close-on-exec. */
export function unixConnect(path: string): number {
  const fd = socket_(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw syscallError('socket', 'AF_UNIX');
  const addr = sockaddr(path);
  if (connect_(fd, addr.buf, addr.len) < 0) {
    const e = lastErrno();
    closeCall(fd);
    throw syscallError('connect', path, e);
  }
  return fd;
}

/** Two connected sockets (for a helper process that hands back a descriptor). */
export function unixSocketPair(): [number, number] {
  const sv = new Int32Array(2);
  if (socketpair_(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) throw syscallError('socketpair', 'AF_UNIX');
  return [sv[0], sv[1]];
}

/** The next pending connection, or null when there is none (EAGAIN). */
export function acceptConnection(listenFd: number): number | null {
  for (;;) {
    const fd = accept4_(listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return fd;
    const e = lastErrno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return null;
    throw syscallError('accept4', `fd ${listenFd}`, e);
  }
}

export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** SO_PEERCRED: the pid, euid and egid of the peer when it called connect(2), as the kernel recorded them. */
export function peerCredentials(fd: number): PeerCredentials {
  const buf = Buffer.alloc(12);
  if (getsockopt_(fd, SOL_SOCKET, SO_PEERCRED, buf, [12]) < 0) throw syscallError('getsockopt', 'SO_PEERCRED');
  return { pid: buf.readInt32LE(0), uid: buf.readUInt32LE(4), gid: buf.readUInt32LE(8) };
}

/** SO_PEERGROUPS: the peer's supplementary groups at connect(2). */
export function peerGroups(fd: number): number[] {
  const buf = Buffer.alloc(4 * 1024);
  const len = [buf.length];
  if (getsockopt_(fd, SOL_SOCKET, SO_PEERGROUPS, buf, len) < 0) throw syscallError('getsockopt', 'SO_PEERGROUPS');
  const out: number[] = [];
  for (let off = 0; off + 4 <= len[0]; off += 4) out.push(buf.readUInt32LE(off));
  return out;
}

export interface Received {
  /** Bytes read; empty with eof at end of stream. */
  readonly data: Buffer;
  /** Descriptors that came with the bytes (close-on-exec), at most MAX_FDS. */
  readonly fds: number[];
  /** The sender attached more descriptors than fit; the kernel dropped the rest. */
  readonly fdsTruncated: boolean;
  readonly eof: boolean;
}

/** One non-blocking recvmsg: null when nothing is waiting (EAGAIN). */
export function receive(fd: number, maxBytes = MAX_CHUNK): Received | null {
  const m = mem();
  const want = Math.min(maxBytes, MAX_CHUNK);
  const controlLen = cmsgSpace(MAX_FDS * 4);
  m.iovView.setBigUint64(0, koffi.address(m.data), true);
  m.iovView.setBigUint64(8, BigInt(want), true);
  m.msgView.setBigUint64(0, 0n, true);
  m.msgView.setUint32(8, 0, true);
  m.msgView.setBigUint64(16, koffi.address(m.iov), true);
  m.msgView.setBigUint64(24, 1n, true);
  m.msgView.setBigUint64(32, koffi.address(m.control), true);
  m.msgView.setBigUint64(40, BigInt(controlLen), true);
  m.msgView.setInt32(48, 0, true);
  for (;;) {
    const n = Number(recvmsg_(fd, m.msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
    if (n < 0) {
      const e = lastErrno();
      if (e === EINTR) continue;
      if (e === EAGAIN) return null;
      throw syscallError('recvmsg', `fd ${fd}`, e);
    }
    const fds = readRights(m, Number(m.msgView.getBigUint64(40, true)));
    const flags = m.msgView.getInt32(48, true);
    return { data: Buffer.from(m.dataView.subarray(0, n)), fds, fdsTruncated: (flags & MSG_CTRUNC) !== 0, eof: n === 0 };
  }
}

function readRights(m: Scratch, controlLen: number): number[] {
  const fds: number[] = [];
  let off = 0;
  while (off + 16 <= controlLen) {
    const len = Number(m.controlView.getBigUint64(off, true));
    const level = m.controlView.getInt32(off + 8, true);
    const type = m.controlView.getInt32(off + 12, true);
    if (len < 16 || off + len > controlLen) break;
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      for (let p = off + 16; p + 4 <= off + len; p += 4) fds.push(m.controlView.getInt32(p, true));
    }
    off += cmsgAlign(len);
  }
  return fds;
}

/**
 * One non-blocking sendmsg of data (with fds attached to its first byte):
 * the number of bytes sent, or 0 when the socket buffer is full (EAGAIN).
 * Never raises SIGPIPE; a gone peer is an EPIPE SyscallError.
 */
export function send(fd: number, data: Buffer, fds: readonly number[] = []): number {
  if (fds.length > MAX_FDS) throw new RangeError(`at most ${MAX_FDS} descriptors per message`);
  if (data.length === 0) return 0;
  const m = mem();
  const len = Math.min(data.length, MAX_CHUNK);
  m.dataView.set(data.subarray(0, len), 0);
  m.iovView.setBigUint64(0, koffi.address(m.data), true);
  m.iovView.setBigUint64(8, BigInt(len), true);
  m.msgView.setBigUint64(0, 0n, true);
  m.msgView.setUint32(8, 0, true);
  m.msgView.setBigUint64(16, koffi.address(m.iov), true);
  m.msgView.setBigUint64(24, 1n, true);
  if (fds.length > 0) {
    const clen = 16 + fds.length * 4;
    m.controlView.setBigUint64(0, BigInt(clen), true);
    m.controlView.setInt32(8, SOL_SOCKET, true);
    m.controlView.setInt32(12, SCM_RIGHTS, true);
    fds.forEach((f, i) => m.controlView.setInt32(16 + i * 4, f, true));
    m.msgView.setBigUint64(32, koffi.address(m.control), true);
    m.msgView.setBigUint64(40, BigInt(cmsgSpace(fds.length * 4)), true);
  } else {
    m.msgView.setBigUint64(32, 0n, true);
    m.msgView.setBigUint64(40, 0n, true);
  }
  m.msgView.setInt32(48, 0, true);
  for (;;) {
    const n = Number(sendmsg_(fd, m.msg, MSG_DONTWAIT | MSG_NOSIGNAL));
    if (n >= 0) return n;
    const e = lastErrno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return 0;
    throw syscallError('sendmsg', `fd ${fd}`, e);
  }
}

export interface PollEntry {
  readonly fd: number;
  readonly events: number;
}

/**
 * poll(2) on a koffi worker thread: resolves with each entry's revents
 * (all 0 on timeout). The event loop keeps running meanwhile.
 */
export function pollReady(entries: readonly PollEntry[], timeoutMs: number): Promise<number[]> {
  const n = entries.length;
  const buf = koffi.alloc('uint8', Math.max(8, n * 8));
  const view = new DataView(koffi.view(buf, Math.max(8, n * 8)));
  entries.forEach((e, i) => {
    view.setInt32(i * 8, e.fd, true);
    view.setInt16(i * 8 + 4, e.events, true);
    view.setInt16(i * 8 + 6, 0, true);
  });
  return new Promise((resolve, reject) => {
    poll_.async(buf, n, Math.max(0, Math.floor(timeoutMs)), (err: unknown, r: number) => {
      try {
        if (err) return reject(err);
        const out: number[] = [];
        for (let i = 0; i < n; i++) out.push(r > 0 ? view.getUint16(i * 8 + 6, true) : 0);
        resolve(out);
      } finally {
        koffi.free(buf);
      }
    });
  });
}

/** close(2), ignoring errors: for descriptors fsidmap opened or validated itself. */
export function closeDescriptor(fd: number): void {
  if (fd >= 0) closeCall(fd);
}

const fcntl_ = libc.func('int fcntl(int fd, int cmd, ...)');

/** Sets O_NONBLOCK (a listening socket inherited from systemd comes blocking). */
export function setNonBlocking(fd: number): void {
  const flags = Number(fcntl_(fd, F_GETFL));
  if (flags < 0 || Number(fcntl_(fd, F_SETFL, 'int', flags | O_NONBLOCK)) < 0) throw syscallError('fcntl', `fd ${fd} O_NONBLOCK`);
}

/** SO_TYPE and SO_DOMAIN of fd are a Unix stream socket that listens (SO_ACCEPTCONN). */
export function isListeningUnixStream(fd: number): boolean {
  const get = (name: number) => {
    const buf = Buffer.alloc(4);
    return getsockopt_(fd, SOL_SOCKET, name, buf, [4]) < 0 ? -1 : buf.readInt32LE(0);
  };
  return get(3 /* SO_TYPE */) === SOCK_STREAM && get(39 /* SO_DOMAIN */) === AF_UNIX && get(30 /* SO_ACCEPTCONN */) === 1;
}

const SO_LINGER = 13;

/**
 * Turns SO_LINGER off on a socket a peer sent, so that closing it returns at
 * once: with {on, 40 s} and unsent data, close(2) of a TCP socket waits up
 * to 40 s in the closing thread. A socket operation, not a file-system one,
 * so safe on any socket. False when it is not a socket that takes it.
 */
export function disarmLinger(fd: number): boolean {
  return setsockopt_(fd, SOL_SOCKET, SO_LINGER, Buffer.alloc(8), 8) === 0;
}

/** Descriptors this process has open now, and its soft limit (RLIMIT_NOFILE). */
export function descriptorUse(): { open: number; limit: number } {
  let open = 0;
  try {
    open = readdirSync('/proc/self/fd').length;
  } catch {
    open = Number.MAX_SAFE_INTEGER; // EMFILE itself: as full as it gets
  }
  if (softLimit === null) {
    try {
      const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
      softLimit = m ? Number(m[1]) : 1024;
    } catch {
      return { open, limit: 1024 };
    }
  }
  return { open, limit: softLimit };
}

let softLimit: number | null = null;
