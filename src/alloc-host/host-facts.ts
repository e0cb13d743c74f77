import { join } from 'node:path';
import type { HostFacts, NamedId, SubidRange } from '../alloc/index.js';
import { readAccounts } from '../host/accounts-file.js';
import { hostPaths } from '../host/paths.js';
import { readSubidFile } from '../host/subid-file.js';
import { subidEntries } from '../policy/subid-db.js';

export interface HostFactsOptions {
  /** Read etc files below this directory instead of / (a mounted host image, a test fixture). */
  readonly root?: string;
}

const ID_LIMIT = 4294967296n;

/**
 * A subid file's entries as shadow parses them (src/policy/subid-db.ts), as
 * half-open u32 ranges. The content counts even when newuidmap would refuse
 * to open the file (a symlink): for keeping clear of ranges and explaining
 * ids, what the file says is what matters. Parts beyond 2^32 hold no id.
 */
function subidRanges(path: string): SubidRange[] {
  const read = readSubidFile(path);
  if (!read.db) return [];
  const out: SubidRange[] = [];
  for (const { line, range } of subidEntries(read.db)) {
    if (range.count <= 0n || range.start >= ID_LIMIT) continue;
    const end = range.start + range.count > ID_LIMIT ? ID_LIMIT : range.start + range.count;
    out.push({ owner: range.owner, start: Number(range.start), end: Number(end), line: line.lineNo });
  }
  return out;
}

/** /etc/passwd, /etc/group, /etc/subuid and /etc/subgid of the host (missing files count as empty). */
export function readHostFacts(options: HostFactsOptions = {}): HostFacts {
  const etc = (name: string): string | undefined => (options.root === undefined ? undefined : join(options.root, 'etc', name));
  const paths = hostPaths({ passwd: etc('passwd'), group: etc('group'), subuid: etc('subuid'), subgid: etc('subgid') });
  const accounts = readAccounts(paths, { passwd: { missingOk: true }, group: { missingOk: true } });
  return {
    users: accounts.users.map((u): NamedId => ({ name: u.name, id: u.uid })),
    groups: accounts.groups.map((g): NamedId => ({ name: g.name, id: g.gid })),
    subuid: subidRanges(paths.subuid),
    subgid: subidRanges(paths.subgid),
  };
}

/**
 * The spellings of a user an /etc/subuid owner field may use: the name and
 * the decimal uid (shadow's find_range compares the string first, then
 * resolves both sides to uids). A user missing from /etc/passwd (NSS/LDAP)
 * is matched by the string given.
 */
export function userSpellings(facts: HostFacts, user: string): string[] {
  const byName = facts.users.find((u: NamedId) => u.name === user);
  const byId = /^\d+$/.test(user) ? facts.users.find((u: NamedId) => u.id === Number(user)) : undefined;
  const entry = byName ?? byId;
  return entry ? [...new Set([user, entry.name, String(entry.id)])] : [user];
}
