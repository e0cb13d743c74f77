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
}

export function latestVersion(migrations: readonly Migration[]): number {
  return migrations.reduce((v, m) => Math.max(v, m.version), 0);
}

export function checkMigrations(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${i} has version ${m.version}; versions must run 1, 2, 3, …`);
  });
}
