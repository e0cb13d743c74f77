import type { Migration } from './migration.js';

/**
 * SQLite schema. Overlap within a scope is refused by the allocator's
 * choice under BEGIN IMMEDIATE (one writer at a time) and, as a second line,
 * by triggers, so even a hand-written INSERT cannot create an overlap.
 * Foreign keys keep a referenced image or a parent from being deleted.
 */
export const sqliteMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'realms, scopes with generations, allocations with overlap triggers',
    sql: `
CREATE TABLE realms (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
CREATE TABLE scopes (
  key INTEGER PRIMARY KEY,
  generation INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE allocations (
  id INTEGER PRIMARY KEY,
  realm_id INTEGER NOT NULL REFERENCES realms(id),
  name TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('container', 'image', 'volume')),
  owner TEXT,
  scope_key INTEGER NOT NULL,
  parent_id INTEGER REFERENCES allocations(id),
  fs_id INTEGER REFERENCES allocations(id),
  uid_start INTEGER NOT NULL,
  uid_count INTEGER NOT NULL,
  gid_start INTEGER NOT NULL,
  gid_count INTEGER NOT NULL,
  holder_pid INTEGER,
  holder_start INTEGER,
  holder_boot TEXT,
  holder_machine TEXT,
  holder_host TEXT,
  created_at TEXT NOT NULL,
  UNIQUE (realm_id, name),
  CHECK (uid_start >= 0 AND uid_start % 65536 = 0 AND uid_count > 0 AND uid_count % 65536 = 0 AND uid_start + uid_count <= 4294967296),
  CHECK (gid_start >= 0 AND gid_start % 65536 = 0 AND gid_count > 0 AND gid_count % 65536 = 0 AND gid_start + gid_count <= 4294967296),
  CHECK ((parent_id IS NULL AND scope_key = -realm_id) OR (parent_id IS NOT NULL AND scope_key = parent_id)),
  CHECK ((holder_pid IS NULL) = (holder_start IS NULL))
);
CREATE INDEX allocations_scope_uid ON allocations (scope_key, uid_start);
CREATE INDEX allocations_scope_gid ON allocations (scope_key, gid_start);
CREATE INDEX allocations_realm_uid ON allocations (realm_id, uid_start);
CREATE INDEX allocations_realm_gid ON allocations (realm_id, gid_start);
CREATE INDEX allocations_uid_count ON allocations (uid_count);
CREATE INDEX allocations_gid_count ON allocations (gid_count);
CREATE INDEX allocations_fs ON allocations (fs_id) WHERE fs_id IS NOT NULL;
CREATE INDEX allocations_parent ON allocations (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX allocations_holder ON allocations (holder_pid) WHERE holder_pid IS NOT NULL;

-- The bound "start > NEW.start - max(count)" lets the index on (scope_key, start) do the work.
CREATE TRIGGER allocations_no_overlap BEFORE INSERT ON allocations
BEGIN
  SELECT RAISE(ABORT, 'FSIDMAP_OVERLAP: uid range overlaps another allocation in its scope')
  WHERE EXISTS (
    SELECT 1 FROM allocations a
    WHERE a.scope_key = NEW.scope_key
      AND a.uid_start < NEW.uid_start + NEW.uid_count
      AND a.uid_start > NEW.uid_start - (SELECT coalesce(max(uid_count), 0) FROM allocations)
      AND a.uid_start + a.uid_count > NEW.uid_start);
  SELECT RAISE(ABORT, 'FSIDMAP_OVERLAP: gid range overlaps another allocation in its scope')
  WHERE EXISTS (
    SELECT 1 FROM allocations a
    WHERE a.scope_key = NEW.scope_key
      AND a.gid_start < NEW.gid_start + NEW.gid_count
      AND a.gid_start > NEW.gid_start - (SELECT coalesce(max(gid_count), 0) FROM allocations)
      AND a.gid_start + a.gid_count > NEW.gid_start);
END;
CREATE TRIGGER allocations_ranges_fixed BEFORE UPDATE OF uid_start, uid_count, gid_start, gid_count, scope_key ON allocations
BEGIN
  SELECT RAISE(ABORT, 'FSIDMAP_IMMUTABLE: an allocation''s ranges never change; release and allocate again');
END;
`,
  },
];
