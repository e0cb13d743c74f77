/**
 * The Linux constants the kernel adapter passes to system calls, declared
 * once (x86_64 and the generic numbering; values from the uapi headers
 * named beside each group). Only this folder uses them.
 */

// <linux/fcntl.h>, <asm-generic/fcntl.h>
export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_SYMLINK_FOLLOW = 0x400;
export const AT_EMPTY_PATH = 0x1000;
export const AT_STATX_DONT_SYNC = 0x4000;
export const AT_RECURSIVE = 0x8000;
export const O_NONBLOCK = 0o4000;
export const O_NOFOLLOW = 0o400000;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;
export const F_GETFL = 3;
export const F_SETFL = 4;

// <linux/openat2.h>
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;

// <linux/stat.h>
export const STATX_MNT_ID = 0x1000;
export const STATX_ATTR_MOUNT_ROOT = 0x2000;
/** sizeof(struct statx). */
export const STATX_SIZE = 256;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

// <linux/mount.h>
export const OPEN_TREE_CLONE = 1;
export const OPEN_TREE_CLOEXEC = O_CLOEXEC;
export const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
export const MOUNT_ATTR_RDONLY = 0x1;
export const MOUNT_ATTR_NOSUID = 0x2;
export const MOUNT_ATTR_NODEV = 0x4;
export const MOUNT_ATTR_NOEXEC = 0x8;
export const MOUNT_ATTR_IDMAP = 0x00100000;
/** sizeof(struct mount_attr), first version. */
export const MOUNT_ATTR_SIZE_VER0 = 32;
export const MNT_DETACH = 0x2;
export const UMOUNT_NOFOLLOW = 0x8;

// <linux/nsfs.h>
export const NS_GET_USERNS = 0xb701;
export const NS_GET_PARENT = 0xb702;
export const NS_GET_OWNER_UID = 0xb704;

// <sys/file.h>
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

// <sys/socket.h>, <asm-generic/socket.h>
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = O_NONBLOCK;
export const SOCK_CLOEXEC = O_CLOEXEC;
export const SOL_SOCKET = 1;
export const SO_PEERCRED = 17;
export const SO_PEERGROUPS = 59;
export const SCM_RIGHTS = 1;
export const MSG_CTRUNC = 0x8;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x40000000;
/** sizeof(sockaddr_un.sun_path). */
export const SUN_PATH_MAX = 108;

// <poll.h>
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;

// <asm-generic/errno-base.h>, <asm-generic/errno.h>
export const ENOENT = 2;
export const EINTR = 4;
export const E2BIG = 7;
export const EAGAIN = 11;
export const EWOULDBLOCK = EAGAIN;
export const EINVAL = 22;
export const ERANGE = 34;
export const ENOSYS = 38;
export const ENODATA = 61;
export const EOPNOTSUPP = 95;
export const ENOTSUP = EOPNOTSUPP;
export const ESTALE = 116;

// <asm/unistd_64.h>: calls glibc 2.36 does not wrap
export const SYS_LISTXATTRAT = 465;
