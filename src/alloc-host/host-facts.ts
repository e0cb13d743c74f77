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
 * the decimal uid (shadow's find_range matches either). A user not in
 * /etc/passwd is an error: a pool must belong to someone real.
 */
export function userSpellings(facts: HostFacts, user: string): string[] {
  const byName = facts.users.find((u: NamedId) => u.name === user);
  const byId = /^\d+$/.test(user) ? facts.users.find((u: NamedId) => u.id === Number(user)) : undefined;
  const entry = byName ?? byId;
  if (!entry) {
    throw new FsidmapError('ERR_USAGE', `--pool-user "${user}" is not a user in /etc/passwd`, { context: { user } });
  }
  return [entry.name, String(entry.id)];
}
