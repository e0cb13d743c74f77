import type { Cap } from './caps.js';
import type { Cred } from './cred.js';
import type { UserNamespace } from './namespace.js';

export interface CapCheck {
  readonly ok: boolean;
  /** Why the capability was or was not honoured, in words. */
  readonly why: string;
}

/**
 * ns_capable(ns, cap) → cap_capable (security/commoncap.c): the caller holds
 * cap over `ns` if `ns` is its own namespace and cap is effective, or if it
 * owns `ns` or one of its ancestors below the caller's namespace (the owner
 * of a child namespace has every capability in it). A namespace at or above
 * the caller's level that is not its own is out of reach.
 */
export function nsCapable(cred: Cred, ns: UserNamespace, cap: Cap): CapCheck {
  const mine = cred.userNs;
  for (let cur: UserNamespace = ns; ;) {
    if (cur === mine) {
      return cred.capEffective.has(cap)
        ? { ok: true, why: `${cap} is effective in ${cur.name}` }
        : { ok: false, why: `${cap} is not in the effective set in ${cur.name}` };
    }
    if (cur.level <= mine.level) {
      return { ok: false, why: `${ns.name} is not ${mine.name} or a descendant of it, so no capability of ${mine.name} reaches it` };
    }
    if (cur.parent === mine && cur.owner === cred.euid) {
      return {
        ok: true,
        why: `the caller's euid k${cred.euid} owns ${cur.name}, a child of its namespace${cur === ns ? '' : ` and an ancestor of ${ns.name}`}`,
      };
    }
    cur = cur.parent!;
  }
}

/** ns_capable over the caller's own namespace (capable() when that is the initial namespace). */
export function capableInOwnNs(cred: Cred, cap: Cap): CapCheck {
  return nsCapable(cred, cred.userNs, cap);
}
