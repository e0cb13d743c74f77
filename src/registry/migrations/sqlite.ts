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
    description: 'realms, scopes (generation, max counts), allocations with overlap and bookkeeping triggers',
    sql: `
CREATE TABLE realms (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
CREATE TABLE scopes (
  key INTEGER PRIMARY KEY,
  -- Bumped by the triggers below on every insert and delete in the scope:
  -- a process's cached view of the scope is valid while this is unchanged.
  generation INTEGER NOT NULL DEFAULT 0,
  -- Largest count ever inserted in the scope (never lowered): bounds index
  -- range scans for overlap checks and lookups by id.
  max_uid_count INTEGER NOT NULL DEFAULT 0,
  max_gid_count INTEGER NOT NULL DEFAULT 0
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
-- Few indexes on purpose: every insert writes each of them.
CREATE INDEX allocations_scope_uid ON allocations (scope_key, uid_start);
CREATE INDEX allocations_scope_gid ON allocations (scope_key, gid_start);
CREATE INDEX allocations_fs ON allocations (fs_id) WHERE fs_id IS NOT NULL;
CREATE INDEX allocations_parent ON allocations (parent_id) WHERE parent_id IS NOT NULL;

-- "start > NEW.start - max_count" lets the (scope_key, start) index do the work.
CREATE TRIGGER allocations_no_overlap BEFORE INSERT ON allocations
BEGIN
  SELECT RAISE(ABORT, 'FSIDMAP_OVERLAP: uid range overlaps another allocation in its scope')
  WHERE EXISTS (
    SELECT 1 FROM allocations a
    WHERE a.scope_key = NEW.scope_key
      AND a.uid_start < NEW.uid_start + NEW.uid_count
      AND a.uid_start > NEW.uid_start - coalesce((SELECT max_uid_count FROM scopes WHERE key = NEW.scope_key), 4294967296)
      AND a.uid_start + a.uid_count > NEW.uid_start);
  SELECT RAISE(ABORT, 'FSIDMAP_OVERLAP: gid range overlaps another allocation in its scope')
  WHERE EXISTS (
    SELECT 1 FROM allocations a
    WHERE a.scope_key = NEW.scope_key
      AND a.gid_start < NEW.gid_start + NEW.gid_count
      AND a.gid_start > NEW.gid_start - coalesce((SELECT max_gid_count FROM scopes WHERE key = NEW.scope_key), 4294967296)
      AND a.gid_start + a.gid_count > NEW.gid_start);
END;
CREATE TRIGGER allocations_scope_insert AFTER INSERT ON allocations
BEGIN
  INSERT OR IGNORE INTO scopes (key) VALUES (NEW.scope_key);
  UPDATE scopes SET generation = generation + 1,
    max_uid_count = max(max_uid_count, NEW.uid_count), max_gid_count = max(max_gid_count, NEW.gid_count)
  WHERE key = NEW.scope_key;
END;
CREATE TRIGGER allocations_scope_delete AFTER DELETE ON allocations
BEGIN
  UPDATE scopes SET generation = generation + 1 WHERE key = OLD.scope_key;
END;
CREATE TRIGGER allocations_ranges_fixed BEFORE UPDATE OF uid_start, uid_count, gid_start, gid_count, scope_key ON allocations
BEGIN
  SELECT RAISE(ABORT, 'FSIDMAP_IMMUTABLE: an allocation''s ranges never change; release and allocate again');
END;
`,
  },
  {
    version: 2,
    description: 'draining: a released range still mapped on its machine stays until no user namespace there maps it',
    sql: `
-- Set by a release while the releasing machine's census finds the range
-- mapped; the row keeps blocking its ids (the chooser and the overlap
-- triggers see it as any other) until a reap on that machine finds it free.
ALTER TABLE allocations ADD COLUMN released_at TEXT;
ALTER TABLE allocations ADD COLUMN released_boot TEXT;
ALTER TABLE allocations ADD COLUMN released_machine TEXT;
CREATE INDEX allocations_draining ON allocations (released_machine) WHERE released_at IS NOT NULL;
`,
  },
  {
    version: 3,
    description: 'anchored pools: a range may start anywhere (a subordinate range at 100000), still in whole 65536-id counts',
    // SQLite cannot drop a CHECK: the table is rebuilt (its indexes and triggers with it); the store runs this with foreign keys off.
    sql: `
CREATE TABLE allocations_v3 (
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
  released_at TEXT,
  released_boot TEXT,
  released_machine TEXT,
  UNIQUE (realm_id, name),
  CHECK (uid_start >= 0 AND uid_count > 0 AND uid_count % 65536 = 0 AND uid_start + uid_count <= 4294967296),
  CHECK (gid_start >= 0 AND gid_count > 0 AND gid_count % 65536 = 0 AND gid_start + gid_count <= 4294967296),
  CHECK ((parent_id IS NULL AND scope_key = -realm_id) OR (parent_id IS NOT NULL AND scope_key = parent_id)),
  CHECK ((holder_pid IS NULL) = (holder_start IS NULL))
);
INSERT INTO allocations_v3 (id, realm_id, name, kind, owner, scope_key, parent_id, fs_id, uid_start, uid_count, gid_start, gid_count,
  holder_pid, holder_start, holder_boot, holder_machine, holder_host, created_at, released_at, released_boot, released_machine)
SELECT id, realm_id, name, kind, owner, scope_key, parent_id, fs_id, uid_start, uid_count, gid_start, gid_count,
  holder_pid, holder_start, holder_boot, holder_machine, holder_host, created_at, released_at, released_boot, released_machine
FROM allocations;
DROP TABLE allocations;
ALTER TABLE allocations_v3 RENAME TO allocations;
CREATE INDEX allocations_scope_uid ON allocations (scope_key, uid_start);
CREATE INDEX allocations_scope_gid ON allocations (scope_key, gid_start);
CREATE INDEX allocations_fs ON allocations (fs_id) WHERE fs_id IS NOT NULL;
CREATE INDEX allocations_parent ON allocations (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX allocations_draining ON allocations (released_machine) WHERE released_at IS NOT NULL;
CREATE TRIGGER allocations_no_overlap BEFORE INSERT ON allocations
BEGIN
  SELECT RAISE(ABORT, 'FSIDMAP_OVERLAP: uid range overlaps another allocation in its scope')
  WHERE EXISTS (
    SELECT 1 FROM allocations a
    WHERE a.scope_key = NEW.scope_key
      AND a.uid_start < NEW.uid_start + NEW.uid_count
      AND a.uid_start > NEW.uid_start - coalesce((SELECT max_uid_count FROM scopes WHERE key = NEW.scope_key), 4294967296)
      AND a.uid_start + a.uid_count > NEW.uid_start);
  SELECT RAISE(ABORT, 'FSIDMAP_OVERLAP: gid range overlaps another allocation in its scope')
  WHERE EXISTS (
    SELECT 1 FROM allocations a
    WHERE a.scope_key = NEW.scope_key
      AND a.gid_start < NEW.gid_start + NEW.gid_count
      AND a.gid_start > NEW.gid_start - coalesce((SELECT max_gid_count FROM scopes WHERE key = NEW.scope_key), 4294967296)
      AND a.gid_start + a.gid_count > NEW.gid_start);
END;
CREATE TRIGGER allocations_scope_insert AFTER INSERT ON allocations
BEGIN
  INSERT OR IGNORE INTO scopes (key) VALUES (NEW.scope_key);
  UPDATE scopes SET generation = generation + 1,
    max_uid_count = max(max_uid_count, NEW.uid_count), max_gid_count = max(max_gid_count, NEW.gid_count)
  WHERE key = NEW.scope_key;
END;
CREATE TRIGGER allocations_scope_delete AFTER DELETE ON allocations
BEGIN
  UPDATE scopes SET generation = generation + 1 WHERE key = OLD.scope_key;
END;
CREATE TRIGGER allocations_ranges_fixed BEFORE UPDATE OF uid_start, uid_count, gid_start, gid_count, scope_key ON allocations
BEGIN
  SELECT RAISE(ABORT, 'FSIDMAP_IMMUTABLE: an allocation''s ranges never change; release and allocate again');
END;
`,
  },
];
