import { libc, syscallError } from '../libc.js';
import { S_IFBLK, S_IFCHR, S_IFIFO } from '../linux.js';
export { S_IFBLK, S_IFCHR, S_IFIFO } from '../linux.js';

/**
 * mknod(2) for the node types node:fs cannot make: fifos and character and
 * block devices (the unpacker's). Throws SyscallError ERR_SYSCALL_<ERRNO>;
 * EPERM is what a user namespace gets for devices (no CAP_MKNOD there).
 */
const mknodC = libc.func('int mknod(const char *pathname, uint32_t mode, uint64_t dev)') as (
  p: string,
  mode: number,
  dev: bigint,
) => number;

/** glibc's gnu_dev_makedev: the 64-bit dev_t from major and minor numbers. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

export type NodeKind = 'fifo' | 'char' | 'block';

export function mknod(path: string, kind: NodeKind, permissions: number, major = 0, minor = 0): void {
  const type = kind === 'fifo' ? S_IFIFO : kind === 'char' ? S_IFCHR : S_IFBLK;
  if (mknodC(path, type | (permissions & 0o7777), kind === 'fifo' ? 0n : makedev(major, minor)) !== 0) {
    throw syscallError('mknod', path, undefined, {
      EPERM: 'creating device nodes needs CAP_MKNOD in the initial user namespace; inside a user namespace the kernel refuses it',
      EEXIST: 'something already exists at that path',
    });
  }
}
