import { existsSync, readFileSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { FsidmapError } from '../errors.js';
import type { AllocationRow, ListFilter, RegistryInfo, Store } from './contract.js';
import { latestVersion } from './migrations/migration.js';
import { sqliteMigrations } from './migrations/sqlite.js';
import { mapError } from './sqlite.js';
import { SqliteReads } from './sqlite-reads.js';
import { readOnlyError } from './read-only.js';

interface Connection {
  readonly db: Database.Database;
  readonly reads: SqliteReads;
  /** live: the file itself, through SQLite's WAL index; copy: a private in-memory copy of the file as it was at `fingerprint`. */
  readonly mode: 'live' | 'copy';
  readonly fingerprint: string;
}

/** What changes whenever a writer touches the file: inode, size, mtime (ns), and whether a WAL file exists. */
function fingerprint(path: string): string {
  const s = statSync(path, { bigint: true });
  return `${s.ino}:${s.size}:${s.mtimeNs}:${existsSync(`${path}-wal`) ? 'w' : '-'}`;
}

const CANNOT_MAKE_SHM = new Set(['SQLITE_READONLY_DIRECTORY', 'SQLITE_CANTOPEN', 'SQLITE_READONLY_CANTINIT']);

/**
 * A SQLite registry opened for reading only, as an ordinary user may open
 * root's /var/lib/fsidmap/registry.db (mode 0644 in a 0755 directory).
 *
 * A WAL-mode reader needs the -shm file. While any process has the registry
 * open it exists and is readable, and SQLite reads through it (live mode:
 * the reader sees each commit, PRAGMA data_version says when). When no
 * process has it open, the last one removed -wal and -shm, and a user who
 * cannot write the directory cannot create them: then the file alone is the
 * whole database, and it is read into a private in-memory copy (copy mode),
 * taken between two identical stats so no writer touched it meanwhile, and
 * taken again when the stat changes. A -wal file appearing means a writer
 * started: the next read switches to live mode.
 */
export class SqliteReadStore implements Store {
  readonly info: RegistryInfo;
  private conn: Connection;

  constructor(
    private readonly path: string,
    private readonly busyTimeoutMs = 30000,
  ) {
    if (!existsSync(path)) {
      throw new FsidmapError('ERR_DB_UNREACHABLE', `no registry at ${path}`, {
        hint: 'pass --db with the registry file (fsidmap alloc creates it), or set FSIDMAP_DB',
        context: { path },
      });
    }
    this.conn = this.connect();
    this.info = { store: 'sqlite', location: path, schemaVersion: latestVersion(sqliteMigrations), readOnly: true };
  }

  private connect(): Connection {
    let db: Database.Database | undefined;
    try {
      const live = this.openLive();
      const opened = live ? { db: live, mode: 'live' as const, fingerprint: '' } : this.openCopy();
      db = opened.db;
      checkSchema(db, this.path);
      return { ...opened, reads: new SqliteReads(db) };
    } catch (e) {
      db?.close();
      throw mapError(e, this.path);
    }
  }

  /** The file itself, or undefined when SQLite cannot reach its WAL index (no -shm, and none may be created). */
  private openLive(): Database.Database | undefined {
    const db = new Database(this.path, { readonly: true, fileMustExist: true, timeout: this.busyTimeoutMs });
    try {
      db.prepare('SELECT count(*) FROM sqlite_master').get();
      return db;
    } catch (e) {
      db.close();
      if (CANNOT_MAKE_SHM.has((e as { code?: string }).code ?? '')) return undefined;
      throw e;
    }
  }

  private openCopy(): Omit<Connection, 'reads'> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const before = fingerprint(this.path);
      if (before.endsWith(':w')) {
        const live = this.openLive();
        if (live) return { db: live, mode: 'live', fingerprint: '' };
      }
      const bytes = readFileSync(this.path);
      if (fingerprint(this.path) !== before) continue;
      // Header bytes 18-19 say WAL (2); an in-memory database cannot be one, and no WAL belongs to this copy.
      if (bytes.length >= 20) {
        bytes[18] = 1;
        bytes[19] = 1;
      }
      return { db: new Database(bytes), mode: 'copy', fingerprint: before };
    }
    throw new FsidmapError('ERR_DB_BUSY', `registry ${this.path} kept changing while it was being read`, {
      hint: 'retry; a writer was busy',
      context: { path: this.path },
    });
  }

  /** The connection to read from now: in copy mode, a new copy when the file changed. */
  private current(): Connection {
    if (this.conn.mode === 'copy') {
      let now: string;
      try {
        now = fingerprint(this.path);
      } catch (e) {
        throw mapError(e, this.path);
      }
      if (now !== this.conn.fingerprint) {
        const next = this.connect();
        this.conn.db.close();
        this.conn = next;
      }
    }
    return this.conn;
  }

  /** live or copy, for tests and for `serve` to report. */
  get mode(): 'live' | 'copy' {
    return this.conn.mode;
  }

  write<T>(): Promise<T> {
    return Promise.reject(readOnlyError(this.path));
  }

  async get(realm: string, name: string): Promise<AllocationRow | undefined> {
    return this.read((r) => r.get(realm, name));
  }

  async list(filter: ListFilter): Promise<AllocationRow[]> {
    return this.read((r) => r.list(filter));
  }

  async containing(realm: string, id: number): Promise<AllocationRow[]> {
    return this.read((r) => r.containing(realm, id));
  }

  async changeStamp(): Promise<string> {
    const c = this.current();
    return c.mode === 'live' ? `sqlite-live:${c.reads.dataVersion()}` : `sqlite-copy:${c.fingerprint}`;
  }

  private read<T>(fn: (reads: SqliteReads) => T): T {
    try {
      return fn(this.current().reads);
    } catch (e) {
      throw mapError(e, this.path);
    }
  }

  async close(): Promise<void> {
    if (this.conn.db.open) this.conn.db.close();
  }
}

function checkSchema(db: Database.Database, path: string): void {
  let version: number;
  try {
    version = db.prepare('SELECT coalesce(max(version), 0) FROM fsidmap_schema').pluck().get() as number;
  } catch (e) {
    if ((e as { code?: string }).code !== 'SQLITE_ERROR') throw e;
    throw new FsidmapError('ERR_DB_INVALID', `${path} is not an fsidmap registry (it has no schema table)`, {
      cause: e,
      hint: 'point --db at the registry file',
      context: { path },
    });
  }
  const latest = latestVersion(sqliteMigrations);
  if (version !== latest) {
    throw new FsidmapError('ERR_DB_SCHEMA', `registry ${path} has schema version ${version}; this fsidmap reads version ${latest}`, {
      hint:
        version < latest
          ? "any fsidmap command that writes (alloc, release, gc), run by the registry's owner, migrates it"
          : 'upgrade fsidmap',
      context: { path, version, latest },
    });
  }
}
