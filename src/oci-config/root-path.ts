import { realpathSync, statSync } from 'node:fs';
import { FsidmapError } from '../errors.js';
import { formatInline } from '../idmap/index.js';
import type { CheckedMaps } from '../kernel/index.js';
import { isIdmapped, mountOf } from '../kernel/index.js';

/**
 * --root-path P stands in for the rootfs in root.path, so it must show the
 * rootfs as run would: the same directory (device and inode), idmapped when
 * the plan has mount maps, and its root owned by the id those maps give.
 * The kernel does not say which map a mount has; the owner of the root is
 * the check that catches a mount made with other maps.
 */
export function checkRootPath(path: string, rootfs: string, maps: CheckedMaps | null): string {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new FsidmapError('ERR_OCI_ROOT_PATH_MISSING', `--root-path ${path} does not exist`, {
      context: { path },
      hint: 'make the idmapped mount first (fsidmap mount), then give its mount point',
    });
  }
  const seen = statSync(real),
    disk = statSync(rootfs);
  if (seen.dev !== disk.dev || seen.ino !== disk.ino) {
    throw new FsidmapError('ERR_OCI_ROOT_PATH_OTHER', `--root-path ${real} is not a mount of the rootfs ${rootfs}`, {
      context: { path: real, rootfs },
      hint: `mount the rootfs there: fsidmap mount --idmap … --fsidmap … ${rootfs} ${real}`,
    });
  }
  const idmapped = isIdmapped(mountOf(real)) && mountOf(real).mountPoint === real;
  if (maps !== null && !idmapped) {
    throw new FsidmapError(
      'ERR_OCI_ROOT_PATH_NOT_IDMAPPED',
      `--root-path ${real} is not an idmapped mount, but the rootfs has an fsid map`,
      {
        context: { path: real, rootfs },
        hint: `make it one with the same maps: fsidmap mount --idmap … --fsidmap … ${rootfs} ${real}`,
      },
    );
  }
  const want = { uid: expected(maps?.uid, disk.uid), gid: expected(maps?.gid, disk.gid) };
  if (seen.uid !== want.uid || seen.gid !== want.gid) {
    throw new FsidmapError(
      'ERR_OCI_ROOT_PATH_MAP',
      `--root-path ${real} shows the rootfs's root as ${seen.uid}:${seen.gid}, but ${
        maps ? `the mount map ${formatInline(maps.uid)} gives ${want.uid}:${want.gid}` : `without an fsid map it is ${want.uid}:${want.gid}`
      }`,
      {
        context: { path: real, seen: [seen.uid, seen.gid], expected: [want.uid, want.gid] },
        hint: maps
          ? 'the mount was made with other maps: umount it and mount it again with the --idmap and --fsidmap given here'
          : 'without --fsidmap give the rootfs itself (no --root-path), or a plain bind mount of it',
      },
    );
  }
  return real;
}

function expected(map: CheckedMaps['uid'] | undefined, onDisk: number): number {
  return map === undefined ? onDisk : map.mapIdDownMunged(onDisk);
}
