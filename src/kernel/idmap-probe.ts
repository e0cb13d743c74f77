import { FsidmapError } from '../errors.js';
import { IdMap } from '../idmap/index.js';
import { makeDetachedMount } from './idmapped-mount.js';
import { alreadyIdmapped } from './mount-errors.js';
import { isIdmapped, mountOf, type MountEntry } from './mountinfo.js';

/** Whether idmapped mounts of a path can be made, and if not, the error that says why. */
export interface IdmapSupport {
  readonly supported: boolean;
  readonly fsType: string | null;
  readonly mountPoint: string | null;
  /** ERR_FS_NO_IDMAP, ERR_KERNEL_NO_IDMAPPED_MOUNTS, ERR_NOT_ROOT, ERR_ALREADY_IDMAPPED, … */
  readonly error: FsidmapError | null;
  /** True when the answer came from the cache of this process. */
  readonly cached: boolean;
}

const cache = new Map<string, Omit<IdmapSupport, 'cached'>>();

/** A map any namespace may hold: the probe only asks whether the kernel accepts an idmapping here. */
const PROBE_MAP = IdMap.from([{ first: 0, lower: 65534, count: 1 }]);

/**
 * Probes, by making (and dropping) a detached idmapped mount of path, as
 * Incus's CanIdmapMount does. The answer is cached per filesystem
 * (superblock: device number and type), since support is a property of the
 * filesystem type and the kernel; a path on an already idmapped mount is
 * answered from mountinfo without probing, since that is a property of the
 * mount.
 */
export async function probeIdmapSupport(path: string): Promise<IdmapSupport> {
  let mount: MountEntry | undefined;
  try { mount = mountOf(path); } catch { mount = undefined; }
  const base = { fsType: mount?.fsType ?? null, mountPoint: mount?.mountPoint ?? null };
  if (mount && isIdmapped(mount)) return { ...base, supported: false, error: alreadyIdmapped(path, mount), cached: false };
  const key = mount ? `${mount.dev}\0${mount.fsType}` : `path\0${path}`;
  const hit = cache.get(key);
  if (hit) return { ...hit, ...base, cached: true };
  let result: Omit<IdmapSupport, 'cached'>;
  try {
    const m = await makeDetachedMount(path, { maps: { uid: PROBE_MAP, gid: PROBE_MAP } });
    m.close();
    result = { ...base, supported: true, error: null };
  } catch (e) {
    if (!(e instanceof FsidmapError)) throw e;
    // A missing path says nothing about the filesystem: do not cache it.
    if (e.code === 'ERR_PATH_MISSING') return { ...base, supported: false, error: e, cached: false };
    result = { ...base, supported: false, error: e };
  }
  cache.set(key, result);
  return { ...result, cached: false };
}

/** Throws the probe's error when path cannot be idmapped. */
export async function assertIdmapSupport(path: string): Promise<void> {
  const s = await probeIdmapSupport(path);
  if (!s.supported && s.error) throw s.error;
}

/** Forget cached answers (tests; a remounted filesystem). */
export function clearIdmapSupportCache(): void {
  cache.clear();
}
