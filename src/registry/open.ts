import { lstatSync, readFileSync } from 'node:fs';
import { FsidmapError, UsageError } from '../errors.js';
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

function urlFileError(path: string, why: string, hint: string): FsidmapError {
  return new FsidmapError('ERR_DB_URL_FILE', `FSIDMAP_DB_FILE ${path}: ${why}`, { hint, context: { path } });
}

/**
 * The URL in FSIDMAP_DB_FILE. It may hold a password, so it must be a
 * regular file (not a symlink) owned by the caller and unreadable by
 * anyone else; anything looser is refused before any connection is made.
 */
export function readUrlFile(path: string, euid = process.geteuid?.() ?? 0): string {
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    throw urlFileError(path, `cannot read it (${(e as NodeJS.ErrnoException).code})`, 'write the registry URL into it, mode 0600');
  }
  if (!st.isFile()) throw urlFileError(path, 'is not a regular file', 'point FSIDMAP_DB_FILE at the file itself, not a link');
  if (st.uid !== euid) throw urlFileError(path, `is owned by uid ${st.uid}, not ${euid}`, `chown ${euid} ${path}`);
  if ((st.mode & 0o077) !== 0) {
    throw urlFileError(path, `has mode ${(st.mode & 0o777).toString(8)}: others may read the password`, `chmod 600 ${path}`);
  }
  const url = readFileSync(path, 'utf8').trim();
  if (url === '' || url.includes('\n'))
    throw urlFileError(path, 'must hold exactly one line, the registry URL', 'write one postgres:// URL');
  return url;
}

function timeoutOf(env: NodeJS.ProcessEnv): number | undefined {
  const v = envValue('FSIDMAP_DB_TIMEOUT', env);
  if (v === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(v) || Number(v) <= 0) {
    throw new UsageError(`FSIDMAP_DB_TIMEOUT must be a positive number of seconds, got "${v}"`, 'e.g. FSIDMAP_DB_TIMEOUT=15');
  }
  return Math.round(Number(v) * 1000);
}

/** Opens the registry named by --db, FSIDMAP_DB, FSIDMAP_DB_FILE, or the default location (creating and migrating it as needed). */
export async function openRegistry(options: OpenOptions = {}): Promise<Registry> {
  const env = options.env ?? process.env;
  const file = envValue('FSIDMAP_DB_FILE', env);
  const spec = options.db ?? envValue('FSIDMAP_DB', env) ?? (file !== undefined ? readUrlFile(file, options.euid) : undefined);
  if (spec !== undefined && spec.trim() === '') throw new UsageError('--db must not be empty', 'give a file path or a postgres:// URL');
  if (spec !== undefined && isPostgresUrl(spec)) {
    // pg is loaded only when a URL asks for it: it costs ~60 ms of start-up every SQLite user would pay.
    const { PostgresStore } = await import('./postgres.js');
    const timeoutMs = timeoutOf(env);
    return new StoreRegistry(
      await PostgresStore.open({
        url: spec,
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
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
