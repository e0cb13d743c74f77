import { type OpenOptions, openRegistry } from '../registry/open.js';
import type { Registry } from '../registry/contract.js';
import { type HttpServer, startHttp } from './http-server.js';
import { DEFAULT_LISTEN, type ListenSpec } from './listen.js';
import { renderPage } from './page/html.js';
import { PoolHistory } from './pool-stats.js';
import { SpaceSource, type SpaceSourceOptions } from './read-space.js';
import type { Space } from './space.js';
import { SpaceWatcher, type WatcherOptions } from './watcher.js';

export interface ServeOptions extends SpaceSourceOptions, WatcherOptions {
  readonly listen?: ListenSpec;
  /** --db: a SQLite path or a postgres:// URL (default: FSIDMAP_DB, else the default registry). */
  readonly db?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface Serving extends HttpServer {
  /** live (through SQLite's WAL index or PostgreSQL) or copy (SQLite with no -shm to read: see registry/sqlite-read.ts). */
  readonly registry: Registry;
}

function openReadOnly(options: { db?: string; env?: NodeJS.ProcessEnv }): Promise<Registry> {
  const open: OpenOptions = {
    readOnly: true,
    ...(options.env ? { env: options.env } : {}),
    ...(options.db !== undefined ? { db: options.db } : {}),
  };
  return openRegistry(open);
}

/**
 * fsidmap serve: opens the registry read-only, reads the id space once (a
 * server that cannot read it does not start), then serves the page until
 * close(), which closes the connections, the watcher and the registry.
 */
export async function serve(options: ServeOptions = {}): Promise<Serving> {
  const registry = await openReadOnly(options);
  let watcher: SpaceWatcher | undefined;
  try {
    const source = new SpaceSource(registry, options);
    watcher = new SpaceWatcher(source, options);
    await watcher.start();
    const http = await startHttp({ listen: options.listen ?? DEFAULT_LISTEN, source, watcher });
    const w = watcher;
    return {
      ...http,
      registry,
      close: async () => {
        await http.close();
        w.stop();
        await registry.close();
      },
    };
  } catch (e) {
    watcher?.stop();
    await registry.close();
    throw e;
  }
}

/** The id space as it is now, read once (what `report --html` inlines). */
export async function readSpaceOnce(options: SpaceSourceOptions & { db?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Space> {
  const registry = await openReadOnly(options);
  try {
    const source = new SpaceSource(registry, options);
    return await source.read(new PoolHistory(1), await source.stamp());
  } finally {
    await registry.close();
  }
}

/** fsidmap report --html: the page with the data inside, one file that makes no request. */
export async function renderReport(options: SpaceSourceOptions & { db?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return renderPage({ space: await readSpaceOnce(options) }).html;
}
