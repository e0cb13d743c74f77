/**
 * A schema change. Versions are consecutive from 1; each store keeps the
 * versions it has applied in its `fsidmap_schema` table and applies the
 * missing ones in order, in one transaction, under a lock, so two processes
 * opening a fresh registry at once do not both migrate it.
 */
export interface Migration {
  readonly version: number;
  readonly description: string;
  /** One or more statements, run as a script. */
  readonly sql: string;
  /**
   * PostgreSQL: the oldest schema version whose fsidmap may still write the
   * registry once this migration ran (default: this version, so older ones
   * are refused). Lower it only for additive changes older code can ignore
   * (a new column with a default, a new index), so hosts of two versions can
   * share the registry during a rolling upgrade.
   */
  readonly writersFrom?: number;
}

export function latestVersion(migrations: readonly Migration[]): number {
  return migrations.reduce((v, m) => Math.max(v, m.version), 0);
}

export function checkMigrations(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${i} has version ${m.version}; versions must run 1, 2, 3, …`);
  });
}
