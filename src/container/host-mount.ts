import { realpathSync, statSync } from 'node:fs';
import { FsidmapError } from '../errors.js';
import { formatInline, mountMap } from '../idmap/index.js';
import { attachMount, checkMaps, isIdmapped, readMountinfo, readOwnMaps, unmountIdmapped } from '../kernel/index.js';
import { checkOwners } from './owners-check.js';
import { assertRoot } from './prepare.js';
import type { MapPair } from './spec.js';
import { assertNotKnownUnsupported, makeDetachedMountNoting } from '../host/index.js';

export interface HostMountResult {
  readonly source: string;
  readonly target: string;
  /** The mount maps, inline (on-disk:seen:count). */
  readonly uidMap: string;
  readonly gidMap: string;
  /** Entries of SRC whose owners the fsid map leaves out (they show as 65534). */
  readonly warnings: readonly string[];
}

/**
 * `fsidmap mount`: an idmapped mount in the host's mount table that shows
 * source as a container with `ids` sees it through `fs`. Everything is
 * checked before the mount is made; a failure leaves nothing behind.
 */
export async function mountIdmapped(source: string, target: string, ids: MapPair, fs: MapPair): Promise<HostMountResult> {
  assertRoot();
  const src = realOrThrow(source, 'SRC');
  const dst = realOrThrow(target, 'DST');
  if (statSync(src).isDirectory() !== statSync(dst).isDirectory()) {
    throw new FsidmapError('ERR_MOUNT_TYPE_MISMATCH', `SRC ${src} and DST ${dst} must both be directories or both files`);
  }
  assertNotBusy(dst);
  assertNotKnownUnsupported(src);
  // Checked once; the holder namespace of the mount gets these bytes without another check.
  const maps = checkMaps({ uid: mountMap(ids.uid, fs.uid), gid: mountMap(ids.gid, fs.gid) }, readOwnMaps());
  const warnings = checkOwners(src, fs, `source ${src}`, statSync(src).isDirectory());
  const m = await makeDetachedMountNoting(src, { maps });
  attachMount(m, dst);
  return { source: src, target: dst, uidMap: formatInline(maps.uid), gidMap: formatInline(maps.gid), warnings };
}

export function unmountIdmappedAt(target: string): void {
  assertRoot();
  unmountIdmapped(target);
}

/** A second mount on DST would hide the first (and `fsidmap umount` would take off only the top one): refused. */
function assertNotBusy(dst: string): void {
  const there = readMountinfo().filter((m) => m.mountPoint === dst);
  if (there.length === 0) return;
  const top = there[there.length - 1];
  throw new FsidmapError(
    'ERR_MOUNT_BUSY',
    `DST ${dst} is already a mount point (${isIdmapped(top) ? 'an idmapped ' : ''}${top.fsType} mount of ${top.source}${top.root !== '/' ? ` ${top.root}` : ''})`,
    {
      context: { path: dst },
      hint: isIdmapped(top)
        ? `remove it first with fsidmap umount ${dst}, or choose another DST`
        : 'choose a DST that is not a mount point',
    },
  );
}

function realOrThrow(path: string, what: string): string {
  try {
    return realpathSync(path);
  } catch {
    throw new FsidmapError('ERR_PATH_MISSING', `${what} ${path} does not exist`, {
      context: { path },
      hint: what === 'DST' ? 'create the mount point first' : 'check the path',
    });
  }
}
