import type { IdMap } from '../idmap/index.js';

/** A uid map and a gid map: the container's id maps, or its fsid maps. */
export interface MapPair {
  readonly uid: IdMap;
  readonly gid: IdMap;
}
