import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { MapPair } from '../container/index.js';

/**
 * Unlike fsidmap run, which opens the rootfs and volumes as host root, an OCI
 * runtime binds them from inside the user namespace, as the container's root:
 * every directory on the way must be searchable by it. Its capabilities
 * count only on directories whose owner and group the id map maps; on the
 * others the mode bits decide (a mkdtemp 0700 directory of host root stops it).
 */
export function searchWarnings(paths: ReadonlyArray<readonly [string, string]>, idmaps: MapPair): string[] {
  const kuid = idmaps.uid.mapIdDown(0),
    kgid = idmaps.gid.mapIdDown(0);
  if (kuid === undefined || kgid === undefined) return [];
  const warned = new Set<string>();
  const out: string[] = [];
  for (const [what, path] of paths) {
    for (let dir = dirname(path); ; dir = dirname(dir)) {
      const st = statSync(dir);
      const capable = idmaps.uid.mapIdUp(st.uid) !== undefined && idmaps.gid.mapIdUp(st.gid) !== undefined;
      const searchable = capable || (st.uid === kuid ? st.mode & 0o100 : st.gid === kgid ? st.mode & 0o010 : st.mode & 0o001);
      if (!searchable && !warned.has(dir)) {
        warned.add(dir);
        out.push(
          `the container's root (host uid ${kuid}) cannot search ${dir} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}, owner ${st.uid}:${st.gid}) on the way to the ${what}: OCI runtimes mount it from inside the user namespace and will fail with "Permission denied" (fsidmap run mounts as host root); chmod o+x ${dir}, or keep the tree elsewhere`,
        );
      }
      if (dir === '/') break;
    }
  }
  return out;
}
