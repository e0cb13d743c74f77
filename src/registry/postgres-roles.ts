/**
 * The least privilege of a host's database role (docs/multihost.md): it
 * reads everything fsidmap keeps and adds, releases and re-holds
 * allocations — nothing more. It cannot change a range once written (no
 * UPDATE on the range columns, and a trigger refuses it even for the owner),
 * truncate or drop a table, or migrate the schema: the owner's role does
 * that once per upgrade. Apply after each migration (new tables need their
 * grants).
 */
export function hostRoleGrants(role: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(role)) throw new Error(`not a plain PostgreSQL role name: ${role}`);
  return `GRANT USAGE ON SCHEMA public TO ${role};
GRANT SELECT ON fsidmap_schema TO ${role};
GRANT SELECT, INSERT ON realms TO ${role};
GRANT SELECT, INSERT, UPDATE ON scopes TO ${role};
GRANT SELECT, INSERT, DELETE ON allocations TO ${role};
GRANT UPDATE (holder_pid, holder_start, holder_boot, holder_machine, holder_host) ON allocations TO ${role};
GRANT USAGE ON SEQUENCE realms_id_seq, allocations_id_seq TO ${role};
`;
}
