import type { DelegationSource, MapHolderFactory, RangeStore } from './ports.js';
import { hostDelegation } from './host-delegation.js';
import { interimHolder } from './interim-holder.js';

/**
 * The real implementations of the broker's ports, as the CLI uses them.
 */
export async function brokerDependencies(options: { db?: string; env?: NodeJS.ProcessEnv }): Promise<{ delegation: DelegationSource; holders: MapHolderFactory; ranges: RangeStore | null }> {
  void options;
  return { delegation: hostDelegation(), holders: interimHolder, ranges: null };
}
