import { readFileSync } from 'node:fs';
import { FsidmapError } from '../errors.js';
import { Accounts } from '../policy/accounts.js';
import { parseLoginDefs } from '../policy/login-defs.js';
import type { HostPaths } from './paths.js';

/**
 * /etc/passwd, /etc/group and /etc/login.defs from disk. Only the files are
 * read, not other NSS sources (LDAP, systemd's synthesized users): fsidmap
 * answers for the files an administrator can see and edit.
 */

export interface ReadOptions {
  /** When false, a missing file is an error; when true (default for /etc paths) it reads as empty. */
  readonly missingOk?: boolean;
}

export function readAccounts(
  paths: Pick<HostPaths, 'passwd' | 'group'>,
  options: { passwd?: ReadOptions; group?: ReadOptions } = {},
): Accounts {
  const passwd = readText(paths.passwd, 'passwd', options.passwd?.missingOk ?? false);
  const group = readText(paths.group, 'group', options.group?.missingOk ?? true);
  return Accounts.parse(passwd ?? '', group ?? '');
}

/** login.defs as shadow reads it; a missing file means every setting has its default, as in shadow. */
export function readLoginDefs(path: string): Map<string, string> {
  return parseLoginDefs(readText(path, 'login.defs', true) ?? '');
}

function readText(path: string, what: string, missingOk: boolean): string | null {
  try {
    return readFileSync(path, 'latin1');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && missingOk) return null;
    throw new FsidmapError(
      'ERR_HOST_READ',
      `cannot read the ${what} file ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      {
        hint: `give the right path with --${what === 'login.defs' ? 'login-defs' : what}`,
        cause: e,
        context: { path, errno: code },
      },
    );
  }
}
