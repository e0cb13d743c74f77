import type { HostIds, MapHolderFactory, RangeStore } from './ports.js';
import { interimHolder } from './interim-holder.js';
import { interimHostIds } from './interim-host-ids.js';

/**
 * The real implementations of the broker's ports, as the CLI uses them.
 */
export async function brokerDependencies(options: { db?: string; env?: NodeJS.ProcessEnv }): Promise<{ hostIds: HostIds; holders: MapHolderFactory; ranges: RangeStore | null }> {
  void options;
  return { hostIds: interimHostIds(), holders: interimHolder, ranges: null };
}
