import { IdMap } from '../idmap/index.js';
import type { MapPair } from './map-pair.js';

export type { IdRange, RangePair, RangeRegistry } from './range-registry.js';
import type { RangePair, RangeRegistry } from './range-registry.js';

/** An allocation as the container sees it: its ids 0… mapped to the range. */
export function mapsOfRanges(r: RangePair): MapPair {
  return {
    uid: IdMap.from([{ first: 0, lower: r.uid.start, count: r.uid.count }]),
    gid: IdMap.from([{ first: 0, lower: r.gid.start, count: r.gid.count }]),
  };
}

/**
 * Opens the registry of the allocator (src/registry). Loaded only when
 * --allocate or --fs is used, so `run` with explicit maps never touches a
 * database.
 */
export async function openRegistry(options: { db?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RangeRegistry> {
  const { openRunRegistry } = await import('./registry-adapter.js');
  return openRunRegistry(options);
}
