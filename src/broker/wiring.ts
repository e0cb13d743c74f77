import type { Pool } from '../alloc/index.js';
import { localMappedCheck } from '../alloc-host/index.js';
import { openRegistry } from '../registry/index.js';
import { hostDelegation } from './host-delegation.js';
import { createUserns } from '../kernel/index.js';
import type { DelegationSource, MapHolderFactory, RangeStore } from './ports.js';
import { registryRanges } from './registry-ranges.js';

/**
 * The real implementations of the broker's ports, as the CLI uses them:
 * the host's delegation files, the range registry (--db, FSIDMAP_DB, or
 * root's default /var/lib/fsidmap/registry.db), and user-namespace holders.
 */
/** The holders of mount maps: a user namespace with the maps written, kept by fsidmap-stage hold. */
export const mapHolders: MapHolderFactory = async (maps) => {
  const h = await createUserns(maps);
  return { nsFd: h.nsFd, release: () => h.release() };
};

export async function brokerDependencies(options: {
  db?: string;
  env?: NodeJS.ProcessEnv;
  pool?: Pool;
}): Promise<{ delegation: DelegationSource; holders: MapHolderFactory; ranges: RangeStore | null }> {
  const registry = await openRegistry({
    ...(options.db !== undefined ? { db: options.db } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  return {
    delegation: hostDelegation(),
    holders: mapHolders,
    ranges: registryRanges(registry, { mapped: localMappedCheck, ...(options.pool ? { pool: options.pool } : {}) }),
  };
}
