import { FsidmapError } from '../../errors.js';
import { SyscallError } from '../libc.js';
import { isIdmapped, type MountEntry } from './mountinfo.js';

/**
 * The kernel answers a refused idmapped mount with EPERM, EINVAL or ENOSYS
 * (build_mount_idmapped, can_idmap_mount; kernel-semantics.md §5.1). Each
 * has several causes; this tells them apart with what fsidmap can see (its
 * euid, the source's line in mountinfo) and names the one that applies.
 *
 * Codes: ERR_NOT_ROOT, ERR_KERNEL_NO_IDMAPPED_MOUNTS, ERR_FS_NO_IDMAP,
 * ERR_ALREADY_IDMAPPED, ERR_MOUNT_NOT_PERMITTED; anything else stays the
 * SyscallError (ERR_SYSCALL_<ERRNO>).
 */
export function explainIdmapFailure(e: unknown, source: string, mount: MountEntry | undefined): unknown {
  if (!(e instanceof SyscallError)) return e;
  const fs = mount ? `${mount.fsType} filesystem ${mount.source} mounted at ${mount.mountPoint}` : 'its filesystem';
  const context = {
    path: source,
    syscall: e.syscall,
    errno: e.errnoName,
    fsType: mount?.fsType ?? null,
    mountPoint: mount?.mountPoint ?? null,
  };
  const make = (code: string, message: string, hint: string) => new FsidmapError(code, message, { context, hint, cause: e });
  switch (e.errnoName) {
    case 'ENOSYS':
      return make(
        'ERR_KERNEL_NO_IDMAPPED_MOUNTS',
        `this kernel has no ${e.syscall} system call, so it cannot make idmapped mounts`,
        'idmapped mounts need Linux 5.12 or newer (open_tree/move_mount 5.2, mount_setattr 5.12)',
      );
    case 'EPERM':
      if (process.geteuid?.() !== 0) {
        return make(
          'ERR_NOT_ROOT',
          `making an idmapped mount of ${source} needs root`,
          'run fsidmap as root (CAP_SYS_ADMIN in the initial user namespace); unprivileged users go through the fsidmap broker',
        );
      }
      if (mount && isIdmapped(mount)) return alreadyIdmapped(source, mount, e);
      return make(
        'ERR_MOUNT_NOT_PERMITTED',
        `the kernel does not let fsidmap idmap ${source}: ${fs} belongs to another user namespace`,
        'an idmapped mount needs CAP_SYS_ADMIN in the user namespace that mounted the filesystem; run fsidmap there, or use a directory on a host filesystem',
      );
    case 'EINVAL':
      if (e.syscall === 'mount_setattr') {
        return make(
          'ERR_FS_NO_IDMAP',
          `the ${fs} does not support idmapped mounts`,
          `put the image on a filesystem that does (ext4, xfs, btrfs, f2fs, tmpfs on Linux 6.3+, …); ${mount?.fsType ?? 'this filesystem'} lacks FS_ALLOW_IDMAP on this kernel`,
        );
      }
      return e;
    case 'ENOENT':
      return make('ERR_PATH_MISSING', `${source} does not exist`, 'check the path');
    default:
      return e;
  }
}

export function alreadyIdmapped(source: string, mount: MountEntry, cause?: unknown): FsidmapError {
  return new FsidmapError(
    'ERR_ALREADY_IDMAPPED',
    `${source} is on an idmapped mount (${mount.mountPoint}); the kernel cannot idmap a mount twice`,
    {
      context: { path: source, mountPoint: mount.mountPoint, fsType: mount.fsType },
      hint: `give the original directory, not the idmapped view of it (umount ${mount.mountPoint} shows what it covers)`,
      cause,
    },
  );
}
