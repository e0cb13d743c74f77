import { nsCapable } from './capable.js';
import type { Cred } from './cred.js';
import { showKid } from './lookup.js';
import { type Outcome, Trace, failure, success } from './trace.js';

/** A process of the model: credentials (replaced on every set*id, like task->cred) and a umask. */
export interface Task {
  readonly pid: number;
  readonly name: string;
  cred: Cred;
  umask: number;
}

/**
 * kill_ok_by_cred (kernel/signal.c): the sender's real or effective uid
 * equals the target's real or saved uid, or the sender holds CAP_KILL over
 * the target's namespace. These are id-map kernel ids: fsid maps never
 * enter, which is what keeps containers that share an fsid map apart.
 */
export function killOk(sender: Task, target: Task): Outcome {
  const t = new Trace();
  if (sender === target) return success(t, 'kill_ok_by_cred', 'a process may always signal itself');
  const s = sender.cred,
    d = target.cred;
  const pairs: Array<[string, number, string, number]> = [
    ['euid', s.euid, 'saved uid', d.suid],
    ['euid', s.euid, 'real uid', d.uid],
    ['real uid', s.uid, 'saved uid', d.suid],
    ['real uid', s.uid, 'real uid', d.uid],
  ];
  for (const [a, x, b, y] of pairs) {
    if (x === y) return success(t, 'kill_ok_by_cred', `the sender's ${a} ${showKid(x)} equals the target's ${b}`);
  }
  t.info(
    'kill_ok_by_cred',
    `no uid match: sender real/effective ${showKid(s.uid)}/${showKid(s.euid)}, target real/saved ${showKid(d.uid)}/${showKid(d.suid)} (id-map kernel ids)`,
  );
  const cap = nsCapable(s, d.userNs, 'CAP_KILL');
  if (cap.ok) return success(t, 'kill_ok_by_cred', `CAP_KILL over the target's namespace ${d.userNs.name}: ${cap.why}`);
  return failure(t, 'EPERM', 'kill_ok_by_cred', `the uids differ and there is no CAP_KILL over ${d.userNs.name}: ${cap.why}`);
}

export type PtraceMode = 'realcreds' | 'fscreds';

/**
 * __ptrace_may_access (kernel/ptrace.c) followed by the capability LSM's
 * cap_ptrace_access_check (security/commoncap.c), with the target taken as
 * dumpable and no other LSM (Yama, SELinux). The caller's real ids
 * (REALCREDS, as PTRACE_ATTACH uses) or fs ids (FSCREDS, as /proc access
 * uses; the series uses the id-map kfsuid here, FSID-v2-27) must equal all
 * of the target's real, effective and saved ids, or the caller needs
 * CAP_SYS_PTRACE over the target's namespace. Then the target must be in
 * the caller's own namespace with no permitted capability the caller lacks
 * (permitted set for REALCREDS, effective for FSCREDS), or again
 * CAP_SYS_PTRACE over it: equal kernel ids in two namespaces are not enough
 * (the differential test against the kernel showed this).
 */
export function ptraceMayAccess(caller: Task, target: Task, mode: PtraceMode = 'realcreds'): Outcome {
  const t = new Trace();
  if (caller === target) return success(t, '__ptrace_may_access', 'a thread may always access itself');
  const c = caller.cred,
    d = target.cred;
  const uid = mode === 'fscreds' ? c.kfsuid : c.uid;
  const gid = mode === 'fscreds' ? c.kfsgid : c.gid;
  const cap = nsCapable(c, d.userNs, 'CAP_SYS_PTRACE');
  if (uid === d.euid && uid === d.suid && uid === d.uid && gid === d.egid && gid === d.sgid && gid === d.gid) {
    t.allow(
      '__ptrace_may_access',
      `the caller's ${mode === 'fscreds' ? 'fs' : 'real'} uid/gid ${showKid(uid)}/${showKid(gid)} equal all of the target's ids`,
    );
  } else if (cap.ok) {
    t.allow('ptrace_has_cap', `ids differ, but CAP_SYS_PTRACE over ${d.userNs.name}: ${cap.why}`);
  } else {
    return failure(
      t,
      'EPERM',
      '__ptrace_may_access',
      `the caller's ${mode === 'fscreds' ? 'fs' : 'real'} ids ${showKid(uid)}/${showKid(gid)} do not equal all of the target's, and no CAP_SYS_PTRACE over ${d.userNs.name}: ${cap.why}`,
    );
  }
  // cap_ptrace_access_check
  const callerCaps = mode === 'fscreds' ? c.capEffective : c.capPermitted;
  const extra = [...d.capPermitted].filter((x) => !callerCaps.has(x));
  if (c.userNs === d.userNs && extra.length === 0)
    return success(t, 'cap_ptrace_access_check', `same namespace ${d.userNs.name}, and the target holds no capability the caller lacks`);
  if (cap.ok) return success(t, 'cap_ptrace_access_check', `CAP_SYS_PTRACE over ${d.userNs.name}: ${cap.why}`);
  const why =
    c.userNs !== d.userNs
      ? `the target lives in ${d.userNs.name}, not in the caller's ${c.userNs.name}`
      : `the target holds ${extra.slice(0, 3).join(',')}${extra.length > 3 ? '…' : ''}, which the caller lacks`;
  return failure(t, 'EPERM', 'cap_ptrace_access_check', `${why}, and no CAP_SYS_PTRACE over it: ${cap.why}`);
}
