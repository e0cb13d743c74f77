import { FsidmapError } from '../errors.js';
import { IdMap } from '../idmap/index.js';
import { type DetachedMount, type DetachedMountOptions, makeDetachedMount, mountOf, type MountEntry } from '../kernel/index.js';
import { type IdmapSupport, knownIdmapSupport, recordIdmapSupport } from './idmap-support-cache.js';

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
    recordIdmapSupport(path, null);
    return { ...base, supported: true, error: null };
  } catch (e) {
    if (!(e instanceof FsidmapError)) throw e;
    recordIdmapSupport(path, e);
    return { ...base, supported: false, error: e };
  }
}

/** Throws the known (cached) reason why path cannot be idmapped; unknown or supported: returns. */
export function assertNotKnownUnsupported(path: string): void {
  const known = knownIdmapSupport(path);
  if (known && !known.supported && known.error) throw known.error;
}

/**
 * makeDetachedMount, with what it learnt about the source's filesystem kept
 * in the support cache: an idmapped mount that was made, or refused for a
 * reason of the filesystem's (the cache keeps only those), answers the next
 * run before it makes anything.
 */
export async function makeDetachedMountNoting(source: string, options: DetachedMountOptions): Promise<DetachedMount> {
  try {
    const m = await makeDetachedMount(source, options);
    if (options.maps) recordIdmapSupport(source, null);
    return m;
  } catch (e) {
    if (options.maps && e instanceof FsidmapError) recordIdmapSupport(source, e);
    throw e;
  }
}
