import type { Migration } from './migration.js';

/**
 * PostgreSQL schema. The database itself forbids overlap: each allocation
 * carries its ranges as int8range values offset by its scope key times
 * 2^32, and EXCLUDE USING gist (… WITH &&) refuses two overlapping ranges
 * even when two hosts insert at the same instant. Folding the scope into
 * the range keeps the constraint on plain gist (no btree_gist extension, so
 * no superuser needed to set up the database).
 */
export const postgresMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'realms, scopes with generations, allocations with exclusion constraints',
    sql: `
CREATE TABLE realms (
  id bigserial PRIMARY KEY,
  name text NOT NULL UNIQUE
);
CREATE TABLE scopes (
  key bigint PRIMARY KEY,
  generation bigint NOT NULL DEFAULT 0
);
CREATE TABLE allocations (
  id bigserial PRIMARY KEY,
  realm_id bigint NOT NULL REFERENCES realms(id),
  name text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('container', 'image', 'volume')),
  owner text,
  scope_key bigint NOT NULL,
  parent_id bigint REFERENCES allocations(id),
  fs_id bigint REFERENCES allocations(id),
  uid_start bigint NOT NULL,
  uid_count bigint NOT NULL,
  gid_start bigint NOT NULL,
  gid_count bigint NOT NULL,
  holder_pid integer,
  holder_start bigint,
  holder_boot text,
  holder_machine text,
  holder_host text,
  created_at timestamptz NOT NULL,
  uid_span int8range GENERATED ALWAYS AS (int8range(scope_key * 4294967296 + uid_start, scope_key * 4294967296 + uid_start + uid_count)) STORED,
  gid_span int8range GENERATED ALWAYS AS (int8range(scope_key * 4294967296 + gid_start, scope_key * 4294967296 + gid_start + gid_count)) STORED,
  UNIQUE (realm_id, name),
  CHECK (uid_start >= 0 AND uid_start % 65536 = 0 AND uid_count > 0 AND uid_count % 65536 = 0 AND uid_start + uid_count <= 4294967296),
  CHECK (gid_start >= 0 AND gid_start % 65536 = 0 AND gid_count > 0 AND gid_count % 65536 = 0 AND gid_start + gid_count <= 4294967296),
  CHECK ((parent_id IS NULL AND scope_key = -realm_id) OR (parent_id IS NOT NULL AND scope_key = parent_id)),
  CHECK ((holder_pid IS NULL) = (holder_start IS NULL)),
  CONSTRAINT allocations_uid_no_overlap EXCLUDE USING gist (uid_span WITH &&),
  CONSTRAINT allocations_gid_no_overlap EXCLUDE USING gist (gid_span WITH &&)
);
CREATE INDEX allocations_scope_uid ON allocations (scope_key, uid_start);
CREATE INDEX allocations_realm_uid ON allocations (realm_id, uid_start);
CREATE INDEX allocations_realm_gid ON allocations (realm_id, gid_start);
CREATE INDEX allocations_uid_count ON allocations (uid_count);
CREATE INDEX allocations_gid_count ON allocations (gid_count);
CREATE INDEX allocations_fs ON allocations (fs_id) WHERE fs_id IS NOT NULL;
CREATE INDEX allocations_parent ON allocations (parent_id) WHERE parent_id IS NOT NULL;
CREATE FUNCTION fsidmap_ranges_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'FSIDMAP_IMMUTABLE: an allocation''s ranges never change; release and allocate again';
END $$;
CREATE TRIGGER allocations_ranges_fixed BEFORE UPDATE OF uid_start, uid_count, gid_start, gid_count, scope_key ON allocations
  FOR EACH ROW EXECUTE FUNCTION fsidmap_ranges_fixed();
`,
  },
];
