import type Database from 'better-sqlite3';
import type { AllocationRow, ListFilter } from './contract.js';
import { type RawRow, SELECT, fromRaw } from './row.js';

/**
 * The read queries of a SQLite registry, prepared on one connection. The
 * writable store and the read-only one (sqlite-read.ts) share them, so a
 * page served read-only lists exactly what `fsidmap list` lists.
 */
export class SqliteReads {
  private readonly q;

  constructor(db: Database.Database) {
    this.q = {
      get: db.prepare(`${SELECT} WHERE r.name = ? AND a.name = ?`),
      list: db.prepare(
        `${SELECT} WHERE r.name = @realm AND (@kind IS NULL OR a.kind = @kind) AND (@draining IS NULL OR (a.released_at IS NOT NULL) = @draining) ORDER BY a.uid_start, a.scope_key, a.name`,
      ),
      realm: db.prepare('SELECT id FROM realms WHERE name = ?').pluck(),
      // Top-level allocations of the realm holding the id, then (children lie
      // inside their parents) the children of those holding it, recursively.
      containing: db.prepare(`WITH RECURSIVE
        uh(id) AS (
          SELECT a.id FROM scopes s JOIN allocations a ON a.scope_key = s.key
          WHERE s.key = -@rid AND a.uid_start <= @id AND a.uid_start > @id - s.max_uid_count AND a.uid_start + a.uid_count > @id
          UNION
          SELECT a.id FROM uh JOIN scopes s ON s.key = uh.id JOIN allocations a ON a.scope_key = s.key
          WHERE a.uid_start <= @id AND a.uid_start > @id - s.max_uid_count AND a.uid_start + a.uid_count > @id),
        gh(id) AS (
          SELECT a.id FROM scopes s JOIN allocations a ON a.scope_key = s.key
          WHERE s.key = -@rid AND a.gid_start <= @id AND a.gid_start > @id - s.max_gid_count AND a.gid_start + a.gid_count > @id
          UNION
          SELECT a.id FROM gh JOIN scopes s ON s.key = gh.id JOIN allocations a ON a.scope_key = s.key
          WHERE a.gid_start <= @id AND a.gid_start > @id - s.max_gid_count AND a.gid_start + a.gid_count > @id)
        ${SELECT} WHERE a.id IN (SELECT id FROM uh UNION SELECT id FROM gh)
        ORDER BY a.uid_count DESC, a.name`),
      // Another connection's commit changes it; the connection's own do not (SQLite's documented rule).
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      schemaVersion: db.prepare('SELECT coalesce(max(version), 0) FROM fsidmap_schema').pluck(),
    };
  }

  get(realm: string, name: string): AllocationRow | undefined {
    const r = this.q.get.get(realm, name) as RawRow | undefined;
    return r && fromRaw(r);
  }

  list(filter: ListFilter): AllocationRow[] {
    return (
      this.q.list.all({
        realm: filter.realm,
        kind: filter.kind ?? null,
        draining: filter.draining === undefined ? null : filter.draining ? 1 : 0,
      }) as RawRow[]
    ).map(fromRaw);
  }

  containing(realm: string, id: number): AllocationRow[] {
    const rid = this.q.realm.get(realm) as number | undefined;
    if (rid === undefined) return [];
    return (this.q.containing.all({ rid, id }) as RawRow[]).map(fromRaw);
  }

  dataVersion(): number {
    return this.q.dataVersion.get() as number;
  }

  schemaVersion(): number {
    return this.q.schemaVersion.get() as number;
  }
}
