import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HostFacts, NamedId } from '../alloc/index.js';
import { FsidmapError } from '../errors.js';
import { parseIdFile, parseSubidFile } from './etc-files.js';

export interface HostFactsOptions {
  /** Read etc files below this directory instead of / (a mounted host image, a test fixture). */
  readonly root?: string;
}

function readOptional(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return '';
    throw new FsidmapError('ERR_HOST_FILE', `cannot read ${path}: ${(e as Error).message}`, { cause: e, context: { path, code } });
  }
}

/** /etc/passwd, /etc/group, /etc/subuid and /etc/subgid of the host (missing files count as empty). */
export function readHostFacts(options: HostFactsOptions = {}): HostFacts {
  const etc = join(options.root ?? '/', 'etc');
  return {
    users: parseIdFile(readOptional(join(etc, 'passwd'))),
    groups: parseIdFile(readOptional(join(etc, 'group'))),
    subuid: parseSubidFile(readOptional(join(etc, 'subuid'))),
    subgid: parseSubidFile(readOptional(join(etc, 'subgid'))),
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
