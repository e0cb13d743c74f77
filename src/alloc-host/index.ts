/** Host adapters of the allocator: the id databases under /etc, and process holders under /proc. */
export { type HostFactsOptions, readHostFacts, userSpellings } from './host-facts.js';
export { type LocalIdentity, processStartTime, localIdentity, holderOf, localHolderProbe } from './holder.js';
export { type HostAllocateOptions, allocateOnHost, whoHolds, collectStale, localMappedCheck } from './allocator.js';
