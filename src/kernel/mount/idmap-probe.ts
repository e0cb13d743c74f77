import { FsidmapError } from '../../errors.js';
import { IdMap } from '../../idmap/index.js';
import { makeDetachedMount } from './idmapped-mount.js';
import { type IdmapSupport, knownIdmapSupport } from './idmap-support-cache.js';
import { mountOf, type MountEntry } from './mountinfo.js';

/** A map any namespace may hold: the probe only asks whether the kernel accepts an idmapping here. */
const PROBE_MAP = IdMap.from([{ first: 0, lower: 65534, count: 1 }]);

/**
 * Whether path's filesystem takes idmapped mounts: from the cache, or by
 * making (and dropping) a detached idmapped mount of it, as Incus's
 * CanIdmapMount does.
 */
export async function probeIdmapSupport(path: string): Promise<IdmapSupport> {
  const known = knownIdmapSupport(path);
  if (known) return known;
  let mount: MountEntry | undefined;
  try {
    mount = mountOf(path);
  } catch {
    mount = undefined;
  }
  const base = { fsType: mount?.fsType ?? null, mountPoint: mount?.mountPoint ?? null, cached: false };
  try {
    const m = await makeDetachedMount(path, { maps: { uid: PROBE_MAP, gid: PROBE_MAP } });
    m.close();
    return { ...base, supported: true, error: null };
  } catch (e) {
    if (!(e instanceof FsidmapError)) throw e;
    return { ...base, supported: false, error: e };
  }
}

/** Throws the known (cached) reason why path cannot be idmapped; unknown or supported: returns. */
export function assertNotKnownUnsupported(path: string): void {
  const known = knownIdmapSupport(path);
  if (known && !known.supported && known.error) throw known.error;
}
