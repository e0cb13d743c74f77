import { lstatSync } from 'node:fs';
import { type HostPaths, hostPaths, readAccounts, readLoginDefs, readSubidFile } from '../host/index.js';
import { getdefBool } from '../policy/index.js';
import type { DelegationFacts } from './peer-view.js';
import type { DelegationSource } from './ports.js';

/**
 * The host's delegation files as the broker reads them: /etc/passwd and
 * /etc/group, /etc/subuid and /etc/subgid (as shadow would: a missing file
 * or a symlink gives none), and GRANT_AUX_GROUP_SUBIDS from
 * /etc/login.defs. Checked for every request and every connection, so
 * usermod's changes apply at once: the files are read and parsed again
 * whenever one of them changed (inode, size, mtime or ctime, to the
 * nanosecond; usermod and vipw replace them by rename), and otherwise
 * served from the last reading — a flood of connections from one user's
 * subordinate uids would otherwise spend the broker's one thread parsing
 * /etc (1.7 ms a connection here).
 */
export function hostDelegation(paths: HostPaths = hostPaths()): DelegationSource {
  const subids = (path: string): string | null => {
    const r = readSubidFile(path);
    return r.state === 'present' ? r.text : null;
  };
  const files = [paths.passwd, paths.group, paths.subuid, paths.subgid, paths.loginDefs];
  const signature = () =>
    files
      .map((f) => {
        const st = lstatSync(f, { bigint: true, throwIfNoEntry: false });
        return st ? `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.mode}` : '-';
      })
      .join(' ');
  let cached: { sig: string; facts: DelegationFacts } | null = null;
  const facts = (): DelegationFacts => {
    const sig = signature();
    if (cached?.sig === sig) return cached.facts;
    const f: DelegationFacts = {
      accounts: readAccounts(paths, { passwd: { missingOk: false }, group: { missingOk: true } }),
      subuidText: subids(paths.subuid),
      subgidText: subids(paths.subgid),
      grantAuxGroupSubids: getdefBool(readLoginDefs(paths.loginDefs), 'GRANT_AUX_GROUP_SUBIDS'),
    };
    // Kept only if nothing changed while it was read.
    if (signature() === sig) cached = { sig, facts: f };
    return f;
  };
  return {
    facts,
    userName(uid) {
      try {
        return facts().accounts.getpwuid(uid)?.name ?? null;
      } catch {
        return null;
      }
    },
  };
}
