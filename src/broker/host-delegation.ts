import { type HostPaths, hostPaths, readAccounts, readLoginDefs, readSubidFile } from '../host/index.js';
import { getdefBool } from '../policy/index.js';
import type { DelegationFacts } from './peer-view.js';
import type { DelegationSource } from './ports.js';

/**
 * The host's delegation files as the broker reads them: /etc/passwd and
 * /etc/group, /etc/subuid and /etc/subgid (as shadow would: a missing file
 * or a symlink gives none), and GRANT_AUX_GROUP_SUBIDS from
 * /etc/login.defs. Read again for every request, so usermod's changes apply
 * at once.
 */
export function hostDelegation(paths: HostPaths = hostPaths()): DelegationSource {
  const subids = (path: string): string | null => {
    const r = readSubidFile(path);
    return r.state === 'present' ? r.text : null;
  };
  return {
    facts(): DelegationFacts {
      return {
        accounts: readAccounts(paths, { passwd: { missingOk: false }, group: { missingOk: true } }),
        subuidText: subids(paths.subuid),
        subgidText: subids(paths.subgid),
        grantAuxGroupSubids: getdefBool(readLoginDefs(paths.loginDefs), 'GRANT_AUX_GROUP_SUBIDS'),
      };
    },
    userName(uid) {
      try {
        return readAccounts(paths, { passwd: { missingOk: true }, group: { missingOk: true } }).getpwuid(uid)?.name ?? null;
      } catch {
        return null;
      }
    },
  };
}
