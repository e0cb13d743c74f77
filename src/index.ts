/** fsidmap's library API. Subpaths (fsidmap/idmap, …) give each part on its own. */
export * from './idmap/index.js';
export { FsidmapError, UsageError, isFsidmapError } from './errors.js';
