/**
 * The allocation registry: one contract (contract.ts), the logic over it
 * (registry.ts), two stores (sqlite.ts, postgres.ts) with versioned
 * migrations, garbage collection of allocations whose holders are gone.
 */
export type {
  Registry,
  RegistryInfo,
  AllocateOptions,
  AllocateResult,
  ReleaseOptions,
  ListFilter,
  References,
  MappedCheck,
  Released,
  ReapResult,
} from './contract.js';
export { openRegistry, defaultRegistryPath, isPostgresUrl, readUrlFile, type OpenOptions } from './open.js';
export { hostRoleGrants } from './postgres-roles.js';
export { StoreRegistry } from './registry.js';
export { SqliteStore, type SqliteOptions } from './sqlite.js';
export { SqliteReadStore } from './sqlite-read.js';
export { PostgresStore, type PostgresOptions, redactUrl } from './postgres.js';
export { collectGarbage, type GcOptions, type GcResult } from './gc.js';
export { type Migration } from './migrations/migration.js';
export { sqliteMigrations } from './migrations/sqlite.js';
export { postgresMigrations } from './migrations/postgres.js';
