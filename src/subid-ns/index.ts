/**
 * An ordinary user's own user namespace over their subordinate ids
 * (issue 12, part 5): the map from /etc/subuid and /etc/subgid, the
 * namespace made with newuidmap/newgidmap, and commands run inside it.
 */
export { subidMapFor, mapLines, mapSize, mapId, type SubidMap, type SubidExtent, type CallerIds } from './subid-map.js';
export { openSubidNamespace, type SubidNamespace } from './subid-namespace.js';
