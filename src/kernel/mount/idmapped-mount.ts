import { lstatSync } from 'node:fs';
import { FsidmapError } from '../../errors.js';
import { formatCompact } from '../../idmap/index.js';
import { recordIdmapSupport } from './idmap-support-cache.js';
import { alreadyIdmapped, explainIdmapFailure } from './mount-errors.js';
import { isIdmapped, mountOf, type MountEntry, readMountinfo } from './mountinfo.js';
import type { NamespaceMaps } from '../userns/proc-maps.js';
import {
  AT_RECURSIVE,
  MNT_DETACH,
  MOUNT_ATTR_IDMAP,
  MOUNT_ATTR_RDONLY,
  OPEN_TREE_CLOEXEC,
  OPEN_TREE_CLONE,
  UMOUNT_NOFOLLOW,
} from '../linux.js';
import { closeFd, mountSetattr, moveMount, openTree, umount2 } from '../syscalls.js';
import { createUserns, type UsernsHolder } from '../userns/userns-holder.js';

/**
 * A mount made with open_tree(OPEN_TREE_CLONE) that is not attached
 * anywhere yet (it lives in an anonymous mount namespace). Whoever holds it
 * either attaches it (attachMount, or by passing the fd to a container
 * stage) or closes it; closing a detached mount frees it, so an abandoned
 * one never shows in any mount table.
 */
export interface DetachedMount {
  readonly fd: number;
  readonly source: string;
  /** The mount map (on-disk id → kernel id), or null for a plain bind mount. */
  readonly maps: NamespaceMaps | null;
  readonly readonly: boolean;
  close(): void;
}

export interface DetachedMountOptions {
  /** Mount maps: uid/gid lines "on-disk kernel-id count" (idmap.mountMap). Null: a plain bind mount. */
  readonly maps: NamespaceMaps | null;
  readonly readonly?: boolean;
  /** Clone the submounts below source too (AT_RECURSIVE); each must support idmapping. */
  readonly recursive?: boolean;
  /** A holder whose namespace already has these maps, shared between mounts; otherwise one is made and released. */
  readonly holder?: UsernsHolder;
}

/**
 * open_tree → (holder namespace with the mount maps) → mount_setattr(IDMAP),
 * kernel-semantics.md §5.1. Failures come back as the specific error of
 * mount-errors.ts (not root, old kernel, filesystem without idmapping,
 * source already idmapped) and leave nothing behind.
 */
export async function makeDetachedMount(source: string, options: DetachedMountOptions): Promise<DetachedMount> {
  try {
    lstatSync(source);
  } catch {
    throw new FsidmapError('ERR_PATH_MISSING', `${source} does not exist`, { context: { path: source }, hint: 'check the path' });
  }
  let mount: MountEntry | undefined;
  try {
    mount = mountOf(source);
  } catch {
    mount = undefined;
  }
  // The kernel would say EPERM; mountinfo says why, before anything is made.
  if (options.maps && mount && isIdmapped(mount)) throw alreadyIdmapped(source, mount);

  const recursive = options.recursive ? AT_RECURSIVE : 0;
  let fd: number;
  try {
    fd = openTree(source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | recursive);
  } catch (e) {
    throw explainIdmapFailure(e, source, mount);
  }
  let holder = options.holder;
  const ownHolder = options.maps !== null && holder === undefined;
  try {
    if (options.maps) {
      holder ??= await createUserns(options.maps);
      mountSetattr(
        fd,
        { attrSet: MOUNT_ATTR_IDMAP | (options.readonly ? MOUNT_ATTR_RDONLY : 0), usernsFd: holder.nsFd },
        recursive,
        source,
      );
    } else if (options.readonly) {
      mountSetattr(fd, { attrSet: MOUNT_ATTR_RDONLY }, recursive, source);
    }
    if (options.maps) recordIdmapSupport(source, null);
  } catch (e) {
    closeFd(fd);
    const explained = explainIdmapFailure(e, source, mount);
    if (options.maps && explained instanceof FsidmapError) recordIdmapSupport(source, explained);
    throw explained;
  } finally {
    // The mount keeps its own copy of the maps (or a reference to the namespace): the holder can go.
    if (ownHolder && holder) await holder.release();
  }
  let open = true;
  return {
    fd,
    source,
    maps: options.maps,
    readonly: options.readonly ?? false,
    close() {
      if (open) {
        open = false;
        closeFd(fd);
      }
    },
  };
}

/** Attaches a detached mount at target in fsidmap's own mount namespace (for `fsidmap mount`). Consumes it. */
export function attachMount(mount: DetachedMount, target: string): void {
  try {
    moveMount(mount.fd, target, { ENOENT: `${target} does not exist: create the directory first` });
  } finally {
    mount.close();
  }
}

/**
 * Unmounts an idmapped mount fsidmap made at target. Refuses anything else
 * (a plain mount, or a path that is not a mount point), so `fsidmap umount`
 * cannot take down a mount it did not make.
 */
export function unmountIdmapped(target: string, options: { lazy?: boolean } = {}): MountEntry {
  const entry = readMountinfo()
    .filter((m) => m.mountPoint === target)
    .pop();
  if (!entry) {
    throw new FsidmapError('ERR_NOT_A_MOUNT', `${target} is not a mount point`, {
      context: { path: target },
      hint: 'give the DST that `fsidmap mount` attached, as an absolute path',
    });
  }
  if (!isIdmapped(entry)) {
    throw new FsidmapError(
      'ERR_NOT_IDMAPPED',
      `the mount at ${target} (${entry.fsType} ${entry.source}) is not idmapped, so fsidmap did not make it`,
      {
        context: { path: target, fsType: entry.fsType },
        hint: 'use umount(8) for mounts fsidmap did not make',
      },
    );
  }
  umount2(target, UMOUNT_NOFOLLOW | (options.lazy ? MNT_DETACH : 0), {
    EBUSY: `processes still use ${target}: stop them (fuser -vm ${target} lists them) and try again`,
  });
  return entry;
}

/** For messages and --json: the maps as kernel lines. */
export function describeMaps(maps: NamespaceMaps | null): { uid: string; gid: string } | null {
  return maps && { uid: formatCompact(maps.uid).trim(), gid: formatCompact(maps.gid).trim() };
}
