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
    description: 'realms, scopes (generation, max counts), allocations with exclusion constraints and bookkeeping trigger',
    sql: `
CREATE TABLE realms (
  id bigserial PRIMARY KEY,
  name text NOT NULL UNIQUE
);
CREATE TABLE scopes (
  key bigint PRIMARY KEY,
  -- Bumped by a trigger on every insert and delete in the scope: a client's
  -- cached view of the scope is valid while this is unchanged.
  generation bigint NOT NULL DEFAULT 0,
  -- Largest count ever inserted in the scope (never lowered): bounds lookups by id.
  max_uid_count bigint NOT NULL DEFAULT 0,
  max_gid_count bigint NOT NULL DEFAULT 0
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
CREATE INDEX allocations_scope_gid ON allocations (scope_key, gid_start);
CREATE INDEX allocations_fs ON allocations (fs_id) WHERE fs_id IS NOT NULL;
CREATE INDEX allocations_parent ON allocations (parent_id) WHERE parent_id IS NOT NULL;
CREATE FUNCTION fsidmap_scope_bookkeeping() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO scopes (key) VALUES (NEW.scope_key) ON CONFLICT (key) DO NOTHING;
    UPDATE scopes SET generation = generation + 1,
      max_uid_count = greatest(max_uid_count, NEW.uid_count), max_gid_count = greatest(max_gid_count, NEW.gid_count)
    WHERE key = NEW.scope_key;
    RETURN NEW;
  END IF;
  UPDATE scopes SET generation = generation + 1 WHERE key = OLD.scope_key;
  RETURN OLD;
END $$;
CREATE TRIGGER allocations_scope_bookkeeping AFTER INSERT OR DELETE ON allocations
  FOR EACH ROW EXECUTE FUNCTION fsidmap_scope_bookkeeping();
CREATE FUNCTION fsidmap_ranges_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'FSIDMAP_IMMUTABLE: an allocation''s ranges never change; release and allocate again';
END $$;
CREATE TRIGGER allocations_ranges_fixed BEFORE UPDATE OF uid_start, uid_count, gid_start, gid_count, scope_key ON allocations
  FOR EACH ROW EXECUTE FUNCTION fsidmap_ranges_fixed();
`,
  },
  {
    version: 2,
    description: 'draining: a released range still mapped on its machine stays until no user namespace there maps it',
    sql: `
-- Set by a release while the releasing machine's census finds the range
-- mapped; the row keeps its ranges (and so the exclusion constraints) until
-- a reap on that machine finds it free.
ALTER TABLE allocations ADD COLUMN released_at timestamptz;
ALTER TABLE allocations ADD COLUMN released_boot text;
ALTER TABLE allocations ADD COLUMN released_machine text;
ALTER TABLE allocations ADD CONSTRAINT allocations_draining_whole
  CHECK ((released_at IS NULL) = (released_machine IS NULL) AND (released_at IS NULL) = (released_boot IS NULL));
CREATE INDEX allocations_draining ON allocations (released_machine) WHERE released_at IS NOT NULL;
`,
  },
  {
    version: 3,
    description: 'anchored pools: a range may start anywhere (a subordinate range at 100000), still in whole 65536-id counts',
    // Only a CHECK is relaxed: older writers (aligned starts only) stay valid.
    writersFrom: 2,
    sql: `
DO $$
DECLARE c record;
BEGIN
  -- The version-1 range checks are unnamed; find them by what they say.
  FOR c IN SELECT conname FROM pg_constraint
    WHERE conrelid = 'allocations'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%_start % %65536%'
  LOOP
    EXECUTE format('ALTER TABLE allocations DROP CONSTRAINT %I', c.conname);
  END LOOP;
END $$;
ALTER TABLE allocations ADD CONSTRAINT allocations_uid_range
  CHECK (uid_start >= 0 AND uid_count > 0 AND uid_count % 65536 = 0 AND uid_start + uid_count <= 4294967296);
ALTER TABLE allocations ADD CONSTRAINT allocations_gid_range
  CHECK (gid_start >= 0 AND gid_count > 0 AND gid_count % 65536 = 0 AND gid_start + gid_count <= 4294967296);
`,
  },
];
