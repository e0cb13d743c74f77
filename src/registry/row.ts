import type { AllocKind, Holder } from '../alloc/index.js';
import type { AllocationRow, NewAllocation } from './contract.js';

/**
 * Every allocation query of both stores starts with this (SQL both dialects
 * read alike), followed by a WHERE clause; each row is a RawRow.
 */
export const SELECT = `
SELECT a.id, a.realm_id, r.name AS realm, a.name, a.kind, a.owner, a.scope_key, p.name AS parent, f.name AS fs,
       a.uid_start, a.uid_count, a.gid_start, a.gid_count,
       a.holder_pid, a.holder_start, a.holder_boot, a.holder_machine, a.holder_host, a.created_at,
       a.released_at, a.released_boot, a.released_machine
FROM allocations a
JOIN realms r ON r.id = a.realm_id
LEFT JOIN allocations p ON p.id = a.parent_id
LEFT JOIN allocations f ON f.id = a.fs_id`;

/** The columns of SELECT. */
export interface RawRow {
  id: number | string;
  realm_id: number | string;
  realm: string;
  name: string;
  kind: string;
  owner: string | null;
  scope_key: number | string;
  parent: string | null;
  fs: string | null;
  uid_start: number | string;
  uid_count: number | string;
  gid_start: number | string;
  gid_count: number | string;
  holder_pid: number | null;
  holder_start: number | string | null;
  holder_boot: string | null;
  holder_machine: string | null;
  holder_host: string | null;
  created_at: string | Date;
  released_at: string | Date | null;
  released_boot: string | null;
  released_machine: string | null;
}

// PostgreSQL returns int8 as strings (they may exceed 2^53); every value here is below 2^53.
const n = (v: number | string): number => (typeof v === 'number' ? v : Number(v));

export function fromRaw(r: RawRow): AllocationRow {
  const holder: Holder | null =
    r.holder_pid === null || r.holder_start === null
      ? null
      : {
          pid: n(r.holder_pid),
          startTime: n(r.holder_start),
          bootId: r.holder_boot ?? '',
          machineId: r.holder_machine ?? '',
          host: r.holder_host ?? '',
        };
  return {
    id: n(r.id),
    realmId: n(r.realm_id),
    scopeKey: n(r.scope_key),
    realm: r.realm,
    name: r.name,
    kind: r.kind as AllocKind,
    owner: r.owner,
    parent: r.parent,
    fs: r.fs,
    uid: { start: n(r.uid_start), end: n(r.uid_start) + n(r.uid_count) },
    gid: { start: n(r.gid_start), end: n(r.gid_start) + n(r.gid_count) },
    holder,
    createdAt: r.created_at instanceof Date ? r.created_at.toISOString() : r.created_at,
    ...(r.released_at === null || r.released_at === undefined
      ? {}
      : {
          draining: {
            since: r.released_at instanceof Date ? r.released_at.toISOString() : r.released_at,
            bootId: r.released_boot ?? '',
            machineId: r.released_machine ?? '',
          },
        }),
  };
}

/** The row an insert wrote, built from what was inserted (no re-read). */
export function fromNew(id: number, row: NewAllocation): AllocationRow {
  return {
    id,
    realmId: row.realmId,
    scopeKey: row.scopeKey,
    realm: row.realm,
    name: row.name,
    kind: row.kind,
    owner: row.owner,
    parent: row.parent,
    fs: row.fs,
    uid: { ...row.uid },
    gid: { ...row.gid },
    holder: row.holder,
    createdAt: row.createdAt,
  };
}
