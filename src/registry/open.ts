import { UsageError } from '../errors.js';
import type { Registry } from './contract.js';
import type { Migration } from './migrations/migration.js';
import { StoreRegistry } from './registry.js';
import { SqliteStore } from './sqlite.js';
import { defaultRegistryPath, envValue } from '../environment.js';

export interface OpenOptions {
  /** --db: a file path or a postgres:// URL. Overrides FSIDMAP_DB. */
  readonly db?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** The effective uid deciding the default location (default: process.geteuid()). */
  readonly euid?: number;
  readonly busyTimeoutMs?: number;
  readonly migrations?: readonly Migration[];
  /**
   * Open for reading only: nothing is created or migrated, writes are
   * refused with ERR_DB_READ_ONLY, and an ordinary user may read root's
   * SQLite registry (sqlite-read.ts says how).
   */
  readonly readOnly?: boolean;
}

export function isPostgresUrl(spec: string): boolean {
  return /^postgres(ql)?:\/\//i.test(spec);
}

/**
 * Where the registry lives when neither --db nor FSIDMAP_DB says:
 * /var/lib/fsidmap/registry.db for root (FHS: state shared by the host's
 * services), $XDG_STATE_HOME/fsidmap/registry.db (default
 * ~/.local/state/fsidmap/registry.db) for everyone else.
 */
export { defaultRegistryPath };

/** Opens the registry named by --db, FSIDMAP_DB, or the default location (creating and migrating it as needed). */
export async function openRegistry(options: OpenOptions = {}): Promise<Registry> {
  const env = options.env ?? process.env;
  const spec = options.db ?? envValue('FSIDMAP_DB', env);
  if (spec !== undefined && spec.trim() === '') throw new UsageError('--db must not be empty', 'give a file path or a postgres:// URL');
  if (spec !== undefined && isPostgresUrl(spec)) {
    // pg is loaded only when a URL asks for it: it costs ~60 ms of start-up every SQLite user would pay.
    const { PostgresStore } = await import('./postgres.js');
    return new StoreRegistry(
      await PostgresStore.open({
        url: spec,
        ...(options.migrations ? { migrations: options.migrations } : {}),
        ...(options.readOnly ? { readOnly: true } : {}),
      }),
    );
  }
  const path = spec ?? defaultRegistryPath(env, options.euid);
  const sqlitePath = path.startsWith('sqlite:') ? path.slice('sqlite:'.length) : path;
  if (options.readOnly) {
    const { SqliteReadStore } = await import('./sqlite-read.js');
    return new StoreRegistry(new SqliteReadStore(sqlitePath, options.busyTimeoutMs));
  }
  return new StoreRegistry(
    new SqliteStore({
      path: sqlitePath,
      createDirs: spec === undefined,
      synchronous: (envValue('FSIDMAP_SQLITE_SYNCHRONOUS', env) ?? '').toUpperCase() === 'FULL' ? 'FULL' : 'NORMAL',
      ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
      ...(options.migrations ? { migrations: options.migrations } : {}),
    }),
  );
}
