import pg from 'pg';
import type { Draining, Holder, Range } from '../alloc/index.js';
import { FsidmapError } from '../errors.js';
import type { AllocationRow, ListFilter, NewAllocation, RegistryInfo, Store, StoreTx } from './contract.js';
import { type Migration, checkMigrations, latestVersion } from './migrations/migration.js';
import { postgresMigrations } from './migrations/postgres.js';
import { readOnlyError } from './read-only.js';
import { Mutex } from './mutex.js';
import { type RawRow, SELECT, fromNew, fromRaw } from './row.js';

export interface PostgresOptions {
  /** postgres://user:password@host:port/database */
  readonly url: string;
  readonly connectTimeoutMs?: number;
  /**
   * The bound on every round trip and every wait of one statement (default
   * 15000): the client gives up on a silent server (a cut link drops packets,
   * it refuses nothing), the server gives up waiting for a scope's lock, and
   * the server ends a session left idle inside a transaction for longer, so
   * a host cut off while holding a scope's lock frees it for the others.
   */
  readonly timeoutMs?: number;
  /** Attempts of one write transaction before a conflict is reported (default 30). */
  readonly maxAttempts?: number;
  readonly migrations?: readonly Migration[];
  /**
   * Read only: no migration (the schema must be the latest already), the
   * session's transactions READ ONLY, every write refused with
   * ERR_DB_READ_ONLY. A database user with SELECT alone is enough.
   */
  readonly readOnly?: boolean;
}

/** pg_advisory_xact_lock key serialising migrations ("fsidmap" in ASCII). */
const MIGRATION_LOCK = '28837344118137200';

const DEFAULT_TIMEOUT_MS = 15000;

/**
 * SQLSTATEs after which the whole transaction is run again: serialization
 * failure, deadlock, and the constraint races of two hosts deciding at once
 * (exclusion: an overlapping range won; unique: the same name won; foreign
 * key: the referenced image went away). The retry re-reads and decides anew.
 */
const RETRYABLE = new Set(['40001', '40P01', '23P01', '23505', '23503']);

/** Node's codes for a server certificate that sslmode=verify-full (or verify-ca) refuses. */
const TLS_FAILURES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
]);

/** The password part of a URL is never printed. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

function mapError(e: unknown, location: string): unknown {
  if (e instanceof FsidmapError || !(e instanceof Error)) return e;
  const code = (e as { code?: string }).code ?? '';
  const context = { location, sqlstate: code || null };
  if (TLS_FAILURES.has(code) || code.startsWith('ERR_TLS') || /does not support SSL/.test(e.message)) {
    return new FsidmapError('ERR_DB_TLS', `the registry at ${location} failed TLS verification: ${e.message}`, {
      cause: e,
      context,
      hint: "check sslrootcert in the URL names the CA that signed the server's certificate and that the host in the URL is in the certificate; the server needs ssl=on",
    });
  }
  const unreachable = [
    'ECONNREFUSED',
    'ENOTFOUND',
    'ETIMEDOUT',
    'EHOSTUNREACH',
    'ECONNRESET',
    'EAI_AGAIN',
    '3D000',
    '57P01',
    '57P02',
    '57P03',
  ];
  if (unreachable.includes(code) || code.startsWith('08') || (/timeout|terminated|Connection/i.test(e.message) && code === '')) {
    return new FsidmapError('ERR_DB_UNREACHABLE', `cannot reach the registry at ${location}: ${e.message}`, {
      cause: e,
      context,
      hint: 'check that PostgreSQL runs there and this host can reach it, that the database exists and the URL (--db, FSIDMAP_DB or FSIDMAP_DB_FILE) is right, then try again: alloc of the same name is safe to repeat',
    });
  }
  if (code === '55P03' || code === '57014') {
    return new FsidmapError('ERR_DB_BUSY', `the registry at ${location} did not answer in time: ${e.message}`, {
      cause: e,
      context,
      hint: 'another host holds the lock or the server is overloaded; try again (FSIDMAP_DB_TIMEOUT sets the bound, in seconds)',
    });
  }
  if (code.startsWith('28')) {
    return new FsidmapError('ERR_DB_UNREACHABLE', `the registry at ${location} refused the login: ${e.message}`, {
      cause: e,
      context,
      hint: 'check the user and password in the URL and pg_hba.conf',
    });
  }
  if (code === '42501') {
    return new FsidmapError('ERR_DB_DENIED', `the registry at ${location} denied access: ${e.message}`, {
      cause: e,
      context,
      hint: "a host's role needs the grants of docs/multihost.md (hostRoleGrants); migrations need the owner's role: run fsidmap alloc once with the owner's URL after an upgrade",
    });
  }
  if (code === '23P01') {
    return new FsidmapError('ERR_REGISTRY_OVERLAP', `the registry refused an overlapping range: ${e.message}`, { cause: e, context });
  }
  return e;
}

class PostgresTx implements StoreTx {
  constructor(private readonly c: pg.Client) {}

  private async rows(sql: string, params: unknown[]): Promise<AllocationRow[]> {
    return ((await this.c.query(sql, params)).rows as RawRow[]).map(fromRaw);
  }

  async realmId(name: string, create: boolean): Promise<number | undefined> {
    const get = async (): Promise<number | undefined> => {
      const r = await this.c.query('SELECT id FROM realms WHERE name = $1', [name]);
      return r.rows.length === 0 ? undefined : Number(r.rows[0].id);
    };
    const id = await get();
    if (id !== undefined || !create) return id;
    await this.c.query('INSERT INTO realms (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [name]);
    return get();
  }

  async byName(realmId: number, name: string): Promise<AllocationRow | undefined> {
    return (await this.rows(`${SELECT} WHERE a.realm_id = $1 AND a.name = $2`, [realmId, name]))[0];
  }

  // The scope row's lock is the chooser's mutex across hosts: whoever holds
  // it reads the scope's ranges after every earlier chooser has committed.
  async lockScope(key: number): Promise<number> {
    await this.c.query('INSERT INTO scopes (key) VALUES ($1) ON CONFLICT (key) DO NOTHING', [key]);
    const r = await this.c.query('SELECT generation FROM scopes WHERE key = $1 FOR UPDATE', [key]);
    return Number(r.rows[0].generation);
  }

  async generationOf(key: number): Promise<number> {
    const r = await this.c.query('SELECT generation FROM scopes WHERE key = $1', [key]);
    return Number(r.rows[0].generation);
  }

  async scopeRanges(key: number): Promise<{ uid: Range; gid: Range }[]> {
    const r = await this.c.query({
      text: 'SELECT uid_start, uid_count, gid_start, gid_count FROM allocations WHERE scope_key = $1',
      values: [key],
      rowMode: 'array',
    });
    return (r.rows as string[][]).map((row) => {
      const [us, uc, gs, gc] = row.map(Number);
      return { uid: { start: us, end: us + uc }, gid: { start: gs, end: gs + gc } };
    });
  }

  async insert(row: NewAllocation): Promise<AllocationRow> {
    const h = row.holder;
    const r = await this.c.query(
      `INSERT INTO allocations (realm_id, name, kind, owner, scope_key, parent_id, fs_id, uid_start, uid_count, gid_start, gid_count,
        holder_pid, holder_start, holder_boot, holder_machine, holder_host, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id`,
      [
        row.realmId,
        row.name,
        row.kind,
        row.owner,
        row.scopeKey,
        row.parentId,
        row.fsId,
        row.uid.start,
        row.uid.end - row.uid.start,
        row.gid.start,
        row.gid.end - row.gid.start,
        h?.pid ?? null,
        h?.startTime ?? null,
        h?.bootId ?? null,
        h?.machineId ?? null,
        h?.host ?? null,
        row.createdAt,
      ],
    );
    return fromNew(Number(r.rows[0].id), row);
  }

  async remove(id: number): Promise<void> {
    await this.c.query('DELETE FROM allocations WHERE id = $1', [id]);
  }

  users(id: number): Promise<AllocationRow[]> {
    return this.rows(`${SELECT} WHERE a.fs_id = $1 ORDER BY a.name`, [id]);
  }

  children(id: number): Promise<AllocationRow[]> {
    return this.rows(`${SELECT} WHERE a.parent_id = $1 ORDER BY a.name`, [id]);
  }

  async setHolder(id: number, h: Holder | null): Promise<void> {
    await this.c.query(
      'UPDATE allocations SET holder_pid = $1, holder_start = $2, holder_boot = $3, holder_machine = $4, holder_host = $5 WHERE id = $6',
      [h?.pid ?? null, h?.startTime ?? null, h?.bootId ?? null, h?.machineId ?? null, h?.host ?? null, id],
    );
  }

  async setDraining(id: number, d: Draining | null): Promise<void> {
    await this.c.query('UPDATE allocations SET released_at = $1, released_boot = $2, released_machine = $3 WHERE id = $4', [
      d?.since ?? null,
      d?.bootId ?? null,
      d?.machineId ?? null,
      id,
    ]);
  }
}

/**
 * The shared store for many hosts: one connection per process, writes in
 * READ COMMITTED transactions that take the scope row's lock before choosing
 * (so choosers of one scope take turns), with the exclusion constraints as
 * the guarantee that holds even if a writer skipped the lock, and a bounded
 * retry of the whole transaction on serialization failures and constraint
 * races.
 */
export class PostgresStore implements Store {
  private readonly mutex = new Mutex();
  private client: pg.Client;
  private tx: PostgresTx;
  /** The connection was lost (server restarted, link cut, timeout): the next operation connects anew. */
  private broken = false;

  private constructor(
    client: pg.Client,
    private readonly options: PostgresOptions,
    readonly info: RegistryInfo,
    private readonly maxAttempts: number,
  ) {
    this.client = this.watch(client);
    this.tx = new PostgresTx(client);
  }

  private watch(client: pg.Client): pg.Client {
    // A dropped connection emits 'error' (and 'end') on the client; without a listener Node would crash the process.
    const lost = (): void => {
      if (this.client === client) this.broken = true;
    };
    client.removeAllListeners('error');
    client.on('error', lost);
    client.on('end', lost);
    return client;
  }

  static async open(options: PostgresOptions): Promise<PostgresStore> {
    const location = redactUrl(options.url);
    const client = await PostgresStore.connect(options, location);
    try {
      const migrations = options.migrations ?? postgresMigrations;
      if (options.readOnly) {
        const version = await PostgresStore.checkSchema(client, location, latestVersion(migrations));
        return new PostgresStore(client, options, { store: 'postgres', location, schemaVersion: version, readOnly: true }, 1);
      }
      const version = await PostgresStore.migrate(client, location, migrations);
      return new PostgresStore(
        client,
        options,
        { store: 'postgres', location, schemaVersion: version, readOnly: false },
        options.maxAttempts ?? 30,
      );
    } catch (e) {
      await client.end().catch(() => {});
      throw mapError(e, location);
    }
  }

  private static async connect(options: PostgresOptions, location: string): Promise<pg.Client> {
    const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const client = new pg.Client({
      connectionString: options.url,
      connectionTimeoutMillis: options.connectTimeoutMs ?? timeout,
      query_timeout: timeout,
      statement_timeout: timeout,
      // Longer than the idle bound, so a waiter outlasts a holder that went silent and gets the lock.
      lock_timeout: 2 * timeout,
      idle_in_transaction_session_timeout: timeout,
      keepAlive: true,
      keepAliveInitialDelayMillis: Math.min(timeout, 10000),
    });
    client.on('error', () => {});
    try {
      await client.connect();
      if (options.readOnly) await client.query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY');
      return client;
    } catch (e) {
      await client.end().catch(() => {});
      throw mapError(e, location);
    }
  }

  /** The live connection, made anew after one was lost (the schema was checked by open()). */
  private async connection(): Promise<pg.Client> {
    if (!this.broken) return this.client;
    const old = this.client;
    old.end().catch(() => {});
    const client = await PostgresStore.connect(this.options, this.info.location);
    this.client = this.watch(client);
    this.tx = new PostgresTx(client);
    this.broken = false;
    return client;
  }

  /** Maps the error, and marks the connection lost when it says the server is out of reach. */
  private failed(e: unknown): unknown {
    const mapped = mapError(e, this.info.location);
    if (mapped instanceof FsidmapError && mapped.code === 'ERR_DB_UNREACHABLE') this.broken = true;
    return mapped;
  }

  /** The registry's schema version, or undefined when the database holds no schema table. */
  private static async versionOf(c: pg.Client): Promise<number | undefined> {
    try {
      return Number((await c.query('SELECT coalesce(max(version), 0) AS v FROM fsidmap_schema')).rows[0].v);
    } catch (e) {
      if ((e as { code?: string }).code === '42P01') return undefined;
      throw e;
    }
  }

  /**
   * A registry newer than this fsidmap is written only when every newer
   * migration said writers of this version may go on (writers_from): an
   * upgrade across hosts migrates once and the others keep allocating until
   * they are upgraded. Without that column or with a higher value, refused.
   */
  private static async refuseNewer(c: pg.Client, location: string, version: number, latest: number): Promise<void> {
    let oldest: number | undefined;
    try {
      const r = await c.query('SELECT max(coalesce(writers_from, version)) AS w FROM fsidmap_schema WHERE version > $1', [latest]);
      oldest = Number(r.rows[0].w);
    } catch (e) {
      if ((e as { code?: string }).code !== '42703') throw e;
    }
    if (oldest !== undefined && oldest <= latest) return;
    throw new FsidmapError('ERR_DB_SCHEMA', `registry ${location} has schema version ${version}; this fsidmap knows up to ${latest}`, {
      hint: 'upgrade fsidmap on this host; a newer schema that older versions may not write refuses them',
      context: { version, latest, writersFrom: oldest ?? version },
    });
  }

  private static async checkSchema(c: pg.Client, location: string, latest: number): Promise<number> {
    const version = await PostgresStore.versionOf(c);
    if (version === undefined) {
      throw new FsidmapError('ERR_DB_INVALID', `${location} holds no fsidmap registry (no schema table)`, {
        hint: 'check the database name in the URL; fsidmap alloc creates the registry',
        context: { location },
      });
    }
    if (version < latest) {
      throw new FsidmapError('ERR_DB_SCHEMA', `registry ${location} has schema version ${version}; this fsidmap reads version ${latest}`, {
        hint: 'any fsidmap command that writes (alloc, release, gc) migrates it',
        context: { version, latest },
      });
    }
    if (version > latest) await PostgresStore.refuseNewer(c, location, version, latest);
    return version;
  }

  private static async migrate(c: pg.Client, location: string, migrations: readonly Migration[]): Promise<number> {
    checkMigrations(migrations);
    const latest = latestVersion(migrations);
    // Up to date (the usual case): no lock and no DDL, so a host's role needs no CREATE (docs/multihost.md).
    const seen = await PostgresStore.versionOf(c);
    if (seen !== undefined && seen >= latest) {
      if (seen > latest) await PostgresStore.refuseNewer(c, location, seen, latest);
      return seen;
    }
    await c.query('BEGIN');
    try {
      await c.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
      await c.query(
        'CREATE TABLE IF NOT EXISTS fsidmap_schema (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL)',
      );
      // The oldest fsidmap version that may still write the registry after this migration (see refuseNewer).
      await c.query('ALTER TABLE fsidmap_schema ADD COLUMN IF NOT EXISTS writers_from integer');
      const current = Number((await c.query('SELECT coalesce(max(version), 0) AS v FROM fsidmap_schema')).rows[0].v);
      if (current > latest) await PostgresStore.refuseNewer(c, location, current, latest);
      for (const m of migrations.filter((m) => m.version > current)) {
        await c.query(m.sql);
        await c.query('INSERT INTO fsidmap_schema (version, description, applied_at, writers_from) VALUES ($1, $2, now(), $3)', [
          m.version,
          m.description,
          m.writersFrom ?? m.version,
        ]);
      }
      await c.query('COMMIT');
      return Math.max(current, latest);
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      throw e;
    }
  }

  write<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    if (this.info.readOnly) return Promise.reject(readOnlyError(this.info.location));
    return this.mutex.run(async () => {
      for (let attempt = 1; ; attempt++) {
        let client: pg.Client | undefined;
        try {
          client = await this.connection();
          await client.query('BEGIN');
          const result = await fn(this.tx);
          await client.query('COMMIT');
          return result;
        } catch (e) {
          const mapped = this.failed(e);
          // On a lost connection the server rolls back by itself; a ROLLBACK would only wait out the timeout.
          if (client && !this.broken) await client.query('ROLLBACK').catch(() => {});
          const code = (e as { code?: string }).code ?? '';
          if (RETRYABLE.has(code) && attempt < this.maxAttempts) {
            // Jittered backoff so racing hosts do not collide again in lockstep.
            await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 2 ** attempt)));
            continue;
          }
          throw mapped;
        }
      }
    });
  }

  private read(sql: string, params: unknown[]): Promise<AllocationRow[]> {
    return this.mutex.run(async () => {
      try {
        return ((await (await this.connection()).query(sql, params)).rows as RawRow[]).map(fromRaw);
      } catch (e) {
        throw this.failed(e);
      }
    });
  }

  async get(realm: string, name: string): Promise<AllocationRow | undefined> {
    return (await this.read(`${SELECT} WHERE r.name = $1 AND a.name = $2`, [realm, name]))[0];
  }

  list(filter: ListFilter): Promise<AllocationRow[]> {
    return this.read(
      `${SELECT} WHERE r.name = $1 AND ($2::text IS NULL OR a.kind = $2) AND ($3::boolean IS NULL OR (a.released_at IS NOT NULL) = $3)
       ORDER BY a.uid_start, a.scope_key, a.name`,
      [filter.realm, filter.kind ?? null, filter.draining ?? null],
    );
  }

  // Top-level allocations of the realm holding the id, then (children lie
  // inside their parents) the children of those holding it, recursively.
  containing(realm: string, id: number): Promise<AllocationRow[]> {
    return this.read(
      `WITH RECURSIVE
      rid AS (SELECT id FROM realms WHERE name = $1),
      uh(id) AS (
        SELECT a.id FROM rid JOIN scopes s ON s.key = -rid.id JOIN allocations a ON a.scope_key = s.key
        WHERE a.uid_start <= $2 AND a.uid_start > $2 - s.max_uid_count AND a.uid_start + a.uid_count > $2
        UNION
        SELECT a.id FROM uh JOIN scopes s ON s.key = uh.id JOIN allocations a ON a.scope_key = s.key
        WHERE a.uid_start <= $2 AND a.uid_start > $2 - s.max_uid_count AND a.uid_start + a.uid_count > $2),
      gh(id) AS (
        SELECT a.id FROM rid JOIN scopes s ON s.key = -rid.id JOIN allocations a ON a.scope_key = s.key
        WHERE a.gid_start <= $2 AND a.gid_start > $2 - s.max_gid_count AND a.gid_start + a.gid_count > $2
        UNION
        SELECT a.id FROM gh JOIN scopes s ON s.key = gh.id JOIN allocations a ON a.scope_key = s.key
        WHERE a.gid_start <= $2 AND a.gid_start > $2 - s.max_gid_count AND a.gid_start + a.gid_count > $2)
      ${SELECT} WHERE a.id IN (SELECT id FROM uh UNION SELECT id FROM gh)
      ORDER BY a.uid_count DESC, a.name`,
      [realm, id],
    );
  }

  /**
   * Inserts and deletes bump their scope's generation (the schema's trigger),
   * and generations never go down, so their sum moves on each; holder
   * changes bump nothing, so the holder columns are summed too (one scan of
   * the table; docs/serve.md has its cost with 100,000 allocations).
   */
  async changeStamp(): Promise<string> {
    return this.mutex.run(async () => {
      try {
        const r = await (
          await this.connection()
        ).query(`SELECT (SELECT coalesce(sum(generation), 0) FROM scopes) AS g,
          count(holder_pid) AS n, coalesce(sum(holder_pid), 0) AS p, coalesce(sum(holder_start), 0) AS s,
          count(released_at) AS d, coalesce(sum(id) FILTER (WHERE released_at IS NOT NULL), 0) AS di FROM allocations`);
        const { g, n, p, s, d, di } = r.rows[0];
        return `postgres:${g}:${n}:${p}:${s}:${d}:${di}`;
      } catch (e) {
        throw this.failed(e);
      }
    });
  }

  async close(): Promise<void> {
    await this.mutex.run(() => this.client.end().catch(() => {}));
  }
}
