import { allocateOnHost, holderOf, localMappedCheck } from '../alloc-host/index.js';
import type { Allocation } from '../alloc/index.js';
import { FsidmapError } from '../errors.js';
import { openRegistry as openAllocationRegistry } from '../registry/index.js';
import type { RangePair, RangeRegistry } from './range-registry.js';

const pairOf = (a: Allocation): RangePair => ({
  uid: { start: a.uid.start, count: a.uid.end - a.uid.start },
  gid: { start: a.gid.start, count: a.gid.end - a.gid.start },
});

/**
 * `run`'s view of the allocator's registry (src/registry, src/alloc-host).
 * A container allocation records this fsidmap process as its holder, so a
 * container whose fsidmap died (SIGKILL) leaves an allocation that
 * `fsidmap gc` frees and that the next `run --allocate` of the name takes
 * over; on a normal exit run releases it itself, only if it still holds it.
 */
export async function openRunRegistry(options: { db?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RangeRegistry> {
  const registry = await openAllocationRegistry({
    ...(options.db === undefined ? {} : { db: options.db }),
    ...(options.env ? { env: options.env } : {}),
  });
  const holder = holderOf(process.pid);
  return {
    async acquireContainer(name, { fs }) {
      const r = await allocateOnHost(registry, { name, kind: 'container', holder, ...(fs !== undefined ? { fs } : {}) });
      return pairOf(r.allocation);
    },
    async fsRanges(name) {
      const a = await registry.get(name);
      if (!a) {
        throw new FsidmapError('ERR_NO_SUCH_ALLOCATION', `the registry has no image or volume "${name}"`, {
          context: { name },
          hint: `allocate its on-disk range first: fsidmap alloc ${name} --kind image`,
        });
      }
      if (a.kind === 'container') {
        throw new FsidmapError('ERR_USAGE', `--fs ${name} names a container allocation, not an image or volume`, {
          context: { name, kind: a.kind },
        });
      }
      return pairOf(a);
    },
    async releaseContainer(name) {
      try {
        // The container's namespaces are gone by now; a range something else still maps (a leaked holder) drains instead.
        await registry.release(name, { expectHolder: holder, mapped: await localMappedCheck() });
      } catch (e) {
        // Gone already, or taken over by another holder: not ours to release.
        if (!(e instanceof FsidmapError && (e.code === 'ERR_NO_SUCH_ALLOCATION' || e.code === 'ERR_ALLOC_HELD'))) throw e;
      }
    },
    close: () => registry.close(),
  };
}
