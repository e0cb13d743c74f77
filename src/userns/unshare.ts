import { ALL_CAPS } from './caps.js';
import type { Cred } from './cred.js';
import { kidHasMapping, showKid } from './lookup.js';
import { MAX_USERNS_PARENT_LEVEL, UserNamespace } from './namespace.js';
import { type Outcome, Trace, failure, success } from './trace.js';

export interface UnshareResult {
  readonly ns: UserNamespace;
  /** The caller's credentials inside the new namespace. */
  readonly cred: Cred;
}

/**
 * unshare(CLONE_NEWUSER) → create_user_ns (kernel/user_namespace.c): the new
 * namespace is owned by the caller's euid/egid, which must be mapped in the
 * parent (else EPERM); nesting stops at level 33 (ENOSPC). The caller keeps
 * its kernel ids, which show as 65534 inside until maps are written, and gets
 * a full capability set scoped to the new namespace (set_cred_user_ns, which
 * also resets the securebits, so keepcaps is off).
 */
export function unshareUserNs(cred: Cred, id: number, name: string): Outcome<UnshareResult> {
  const t = new Trace();
  const parent = cred.userNs;
  if (parent.level > MAX_USERNS_PARENT_LEVEL) {
    return failure(
      t,
      'ENOSPC',
      'create_user_ns',
      `${parent.name} is at level ${parent.level}; user namespaces nest at most 32 levels below the initial one`,
    );
  }
  if (!kidHasMapping(parent, 'uid', cred.euid) || !kidHasMapping(parent, 'gid', cred.egid)) {
    return failure(
      t,
      'EPERM',
      'create_user_ns',
      `the creator's euid ${showKid(cred.euid)} / egid ${showKid(cred.egid)} must be mapped in ${parent.name} to own the new namespace`,
    );
  }
  const ns = UserNamespace.child(parent, {
    id,
    name,
    owner: cred.euid,
    group: cred.egid,
    parentCouldSetfcap: cred.capEffective.has('CAP_SETFCAP'),
  });
  const inside: Cred = { ...cred, userNs: ns, capPermitted: ALL_CAPS, capEffective: ALL_CAPS, keepCaps: false };
  return success(
    t,
    'create_user_ns',
    `created ${name} (level ${ns.level}) owned by ${showKid(cred.euid)}:${showKid(cred.egid)}; full capabilities inside`,
    { ns, cred: inside },
  );
}
