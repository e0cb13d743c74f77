/**
 * fsidmap serve and report --html: the id space as a page. Pure parts
 * (axis, space, pool-stats, page/) and adapters (read-space: registry, /etc
 * and container state; watcher; http-server; serve).
 */
export { axisPos, axisId } from './axis.js';
export {
  type Space,
  type EncodedAllocations,
  type EncodedRanges,
  type ContainerView,
  type AuditView,
  type FindingView,
  buildSpace,
} from './space.js';
export { type PoolStats, type PoolSample, PoolHistory, poolStats } from './pool-stats.js';
export { SpaceSource, type SpaceSourceOptions, pageSafeWho } from './read-space.js';
export { SpaceWatcher, type WatcherOptions, type Snapshot } from './watcher.js';
export { type ListenSpec, DEFAULT_LISTEN, parseListen, isLoopback } from './listen.js';
export { type HttpServer, startHttp } from './http-server.js';
export { renderPage, jsonForScript, PAGE_SCRIPT, type Page } from './page/html.js';
export { type ServeOptions, type Serving, serve, readSpaceOnce, renderReport } from './serve.js';
