import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Draining, Holder, Range } from '../alloc/index.js';
import { FsidmapError } from '../errors.js';
import type { AllocationRow, ListFilter, NewAllocation, RegistryInfo, Store, StoreTx } from './contract.js';
import { type Migration, checkMigrations, latestVersion } from './migrations/migration.js';
import { sqliteMigrations } from './migrations/sqlite.js';
import { Mutex } from './mutex.js';
import { type RawRow, SELECT, fromNew, fromRaw } from './row.js';
import { SqliteReads } from './sqlite-reads.js';

export interface SqliteOptions {
  readonly path: string;
  /** Create missing parent directories (the default location does; an explicit --db path does not). */
  readonly createDirs?: boolean;
  /** How long a writer waits for another process's transaction (ms). */
  readonly busyTimeoutMs?: number;
  readonly migrations?: readonly Migration[];
  /**
   * NORMAL (default): in WAL mode a commit survives the process being killed
   * at any point, and the file stays consistent across power loss, but the
   * last commits before a power cut may be rolled back (then a re-created
   * name lands on its hash slot again). FULL also fsyncs every commit:
   * durable across power loss, about 5x slower here (docs/alloc.md).
   */
  readonly synchronous?: 'NORMAL' | 'FULL';
}

/** better-sqlite3's errors, turned into fsidmap's codes with what to do. */
export function mapError(e: unknown, path: string): unknown {
  if (e instanceof FsidmapError || !(e instanceof Error)) return e;
  const code = (e as { code?: string }).code ?? '';
  const context = { path, sqlite: code };
  if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_') || code === 'SQLITE_LOCKED') {
    return new FsidmapError('ERR_DB_BUSY', `registry ${path} stayed locked by another process`, {
      cause: e,
      context,
      hint: 'retry; if it persists, look for a stuck fsidmap process',
    });
  }
  if (
    code === 'SQLITE_CANTOPEN' ||
    code === 'SQLITE_PERM' ||
    code === 'SQLITE_AUTH' ||
    code === 'SQLITE_IOERR' ||
    code.startsWith('SQLITE_IOERR_')
  ) {
    return new FsidmapError('ERR_DB_UNREACHABLE', `cannot open registry ${path}: ${e.message}`, {
      cause: e,
      context,
      hint: 'check that the directory exists and is writable, or pass --db PATH',
    });
  }
  if (code === 'SQLITE_READONLY' || code.startsWith('SQLITE_READONLY_')) {
    return new FsidmapError('ERR_DB_UNREACHABLE', `registry ${path} is read-only: ${e.message}`, {
      cause: e,
      context,
      hint: 'run as a user who may write it, or pass --db PATH',
    });
  }
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new FsidmapError('ERR_DB_INVALID', `${path} is not a usable fsidmap registry: ${e.message}`, {
      cause: e,
      context,
      hint: 'point --db at the registry file, or move this file away',
    });
  }
  if (e.message.includes('FSIDMAP_OVERLAP')) {
    return new FsidmapError('ERR_REGISTRY_OVERLAP', `the registry refused an overlapping range: ${e.message}`, { cause: e, context });
  }
  return e;
}

class SqliteTx implements StoreTx {
  private readonly s;

  constructor(db: Database.Database) {
    this.s = {
      realmGet: db.prepare('SELECT id FROM realms WHERE name = ?').pluck(),
      realmAdd: db.prepare('INSERT INTO realms (name) VALUES (?) ON CONFLICT (name) DO NOTHING'),
      byName: db.prepare(`${SELECT} WHERE a.realm_id = ? AND a.name = ?`),
      scopeAdd: db.prepare('INSERT INTO scopes (key) VALUES (?) ON CONFLICT (key) DO NOTHING'),
      scopeGet: db.prepare('SELECT generation FROM scopes WHERE key = ?').pluck(),

      ranges: db.prepare('SELECT uid_start, uid_count, gid_start, gid_count FROM allocations WHERE scope_key = ?').raw(),
      insert:
        db.prepare(`INSERT INTO allocations (realm_id, name, kind, owner, scope_key, parent_id, fs_id, uid_start, uid_count, gid_start, gid_count,
        holder_pid, holder_start, holder_boot, holder_machine, holder_host, created_at)
        VALUES (@realmId, @name, @kind, @owner, @scopeKey, @parentId, @fsId, @uidStart, @uidCount, @gidStart, @gidCount,
        @pid, @start, @boot, @machine, @host, @createdAt)`),
      remove: db.prepare('DELETE FROM allocations WHERE id = ?'),
      users: db.prepare(`${SELECT} WHERE a.fs_id = ? ORDER BY a.name`),
      children: db.prepare(`${SELECT} WHERE a.parent_id = ? ORDER BY a.name`),
      holder: db.prepare(
        'UPDATE allocations SET holder_pid = ?, holder_start = ?, holder_boot = ?, holder_machine = ?, holder_host = ? WHERE id = ?',
      ),
      draining: db.prepare('UPDATE allocations SET released_at = ?, released_boot = ?, released_machine = ? WHERE id = ?'),
    };
  }

  async realmId(name: string, create: boolean): Promise<number | undefined> {
    const id = this.s.realmGet.get(name) as number | undefined;
    if (id !== undefined || !create) return id;
    this.s.realmAdd.run(name);
    return this.s.realmGet.get(name) as number | undefined;
  }

  async byName(realmId: number, name: string): Promise<AllocationRow | undefined> {
    const r = this.s.byName.get(realmId, name) as RawRow | undefined;
    return r && fromRaw(r);
  }

  // BEGIN IMMEDIATE already made this the only writer; the row only carries the generation.
  async lockScope(key: number): Promise<number> {
    const generation = this.s.scopeGet.get(key) as number | undefined;
    if (generation !== undefined) return generation;
    this.s.scopeAdd.run(key);
    return this.s.scopeGet.get(key) as number;
  }

  async generationOf(key: number): Promise<number> {
    return this.s.scopeGet.get(key) as number;
  }

  async scopeRanges(key: number): Promise<{ uid: Range; gid: Range }[]> {
    return (this.s.ranges.all(key) as number[][]).map(([us, uc, gs, gc]) => ({
      uid: { start: us, end: us + uc },
      gid: { start: gs, end: gs + gc },
    }));
  }

  async insert(row: NewAllocation): Promise<AllocationRow> {
    const h = row.holder;
    const info = this.s.insert.run({
      realmId: row.realmId,
      name: row.name,
      kind: row.kind,
      owner: row.owner,
      scopeKey: row.scopeKey,
      parentId: row.parentId,
      fsId: row.fsId,
      uidStart: row.uid.start,
      uidCount: row.uid.end - row.uid.start,
      gidStart: row.gid.start,
      gidCount: row.gid.end - row.gid.start,
      pid: h?.pid ?? null,
      start: h?.startTime ?? null,
      boot: h?.bootId ?? null,
      machine: h?.machineId ?? null,
      host: h?.host ?? null,
      createdAt: row.createdAt,
    });
    return fromNew(Number(info.lastInsertRowid), row);
  }

  async remove(id: number): Promise<void> {
    this.s.remove.run(id);
  }

  async users(id: number): Promise<AllocationRow[]> {
    return (this.s.users.all(id) as RawRow[]).map(fromRaw);
  }

  async children(id: number): Promise<AllocationRow[]> {
    return (this.s.children.all(id) as RawRow[]).map(fromRaw);
  }

  async setHolder(id: number, h: Holder | null): Promise<void> {
    this.s.holder.run(h?.pid ?? null, h?.startTime ?? null, h?.bootId ?? null, h?.machineId ?? null, h?.host ?? null, id);
  }

  async setDraining(id: number, d: Draining | null): Promise<void> {
    this.s.draining.run(d?.since ?? null, d?.bootId ?? null, d?.machineId ?? null, id);
  }
}

/**
 * The embedded store: one SQLite file in WAL mode (readers never wait for
 * the writer), every write in BEGIN IMMEDIATE (the write lock is taken
 * first, so two processes never both decide on the same free slot), with a
 * busy timeout so concurrent allocators queue instead of failing. A process
 * killed at any point leaves the last committed state (SQLite's WAL); see
 * `synchronous` for power loss.
 */
export class SqliteStore implements Store {
  readonly info: RegistryInfo;
  private readonly db: Database.Database;
  private readonly tx: SqliteTx;
  private readonly mutex = new Mutex();
  private readonly reads: SqliteReads;
  /** Commits made through this connection: data_version counts only other connections' commits. */
  private commits = 0;

  constructor(private readonly options: SqliteOptions) {
    const path = options.path;
    try {
      if (options.createDirs && path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      else if (path !== ':memory:' && !existsSync(dirname(path))) {
        throw new FsidmapError('ERR_DB_UNREACHABLE', `cannot create registry ${path}: directory ${dirname(path)} does not exist`, {
          hint: 'create the directory, or pass another --db PATH',
          context: { path },
        });
      }
      this.db = new Database(path, { timeout: options.busyTimeoutMs ?? 30000 });
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${options.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
      // Off while migrating (a no-op inside a transaction): a table rebuild drops a table other rows reference.
      this.db.pragma('foreign_keys = OFF');
      const version = this.migrate(options.migrations ?? sqliteMigrations);
      this.db.pragma('foreign_keys = ON');
      this.info = { store: 'sqlite', location: path, schemaVersion: version, readOnly: false };
      this.tx = new SqliteTx(this.db);
    } catch (e) {
      throw mapError(e, path);
    }
    this.reads = new SqliteReads(this.db);
  }

  private migrate(migrations: readonly Migration[]): number {
    checkMigrations(migrations);
    const db = this.db;
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(
        'CREATE TABLE IF NOT EXISTS fsidmap_schema (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)',
      );
      const current = db.prepare('SELECT coalesce(max(version), 0) FROM fsidmap_schema').pluck().get() as number;
      const latest = latestVersion(migrations);
      if (current > latest) {
        throw new FsidmapError(
          'ERR_DB_SCHEMA',
          `registry ${this.options.path} has schema version ${current}; this fsidmap knows up to ${latest}`,
          {
            hint: 'upgrade fsidmap; older versions must not write a newer registry',
            context: { current, latest },
          },
        );
      }
      const record = db.prepare('INSERT INTO fsidmap_schema (version, description, applied_at) VALUES (?, ?, ?)');
      const pending = migrations.filter((m) => m.version > current);
      for (const m of pending) {
        db.exec(m.sql);
        record.run(m.version, m.description, new Date().toISOString());
      }
      // Foreign keys are off while migrating: check once what the migrations left.
      const broken = pending.length > 0 ? (db.pragma('foreign_key_check') as unknown[]) : [];
      if (broken.length > 0) throw new Error(`migration left ${broken.length} broken foreign keys`);
      db.exec('COMMIT');
      return latest;
    } catch (e) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw e;
    }
  }

  write<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      try {
        this.db.exec('BEGIN IMMEDIATE');
        const result = await fn(this.tx);
        this.db.exec('COMMIT');
        this.commits++;
        return result;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw mapError(e, this.options.path);
      }
    });
  }

  async get(realm: string, name: string): Promise<AllocationRow | undefined> {
    return this.reads.get(realm, name);
  }

  async list(filter: ListFilter): Promise<AllocationRow[]> {
    return this.reads.list(filter);
  }

  async containing(realm: string, id: number): Promise<AllocationRow[]> {
    return this.reads.containing(realm, id);
  }

  async changeStamp(): Promise<string> {
    return `sqlite:${this.reads.dataVersion()}:${this.commits}`;
  }

  async close(): Promise<void> {
    await this.mutex.run(async () => {
      if (this.db.open) this.db.close();
    });
  }
}
