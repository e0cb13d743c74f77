import { closeSync, constants, openSync, readFileSync, statSync } from 'node:fs';
import { FsidmapError } from '../../errors.js';
import { type MapFile, type MapFileFds, mapFilesFor, type RefusalHints, writeMapFiles } from './proc-maps.js';
import {
  fdIdentity,
  type NsIdentity,
  ownUserns,
  pidfdAlive,
  pidOfPidfd,
  sameIdentity,
  usernsOwnerUid,
  usernsParent,
} from './received-fd.js';

/**
 * Writing the maps of a user namespace a peer names with two descriptors:
 * the namespace itself (/proc/PID/ns/user) and a pidfd of a process in it.
 *
 * Why both: map files exist only under /proc/PID, and a pid number can be
 * reused the moment its process is reaped, so a pid alone could point the
 * write at somebody else's namespace. The pidfd pins the process; the
 * namespace descriptor says which namespace the peer means. The files are
 * opened through /proc/PID only after the pid read from the pidfd is seen
 * in that namespace, and used only if afterwards the pidfd's process is
 * still alive (so the pid was never reused in between) and still in that
 * namespace (a process cannot return to a user namespace it has left, so
 * it was there when the files were opened; /proc map files keep the
 * namespace they were opened in).
 */

export interface TargetFacts {
  readonly pid: number;
  readonly owner: number;
  readonly ns: NsIdentity;
  /** The owner of /proc/PID (the process's euid and egid), which newuidmap requires to be the caller's. */
  readonly procUid: number;
  readonly procGid: number;
  /** /proc/PID/setgroups now. */
  readonly setgroups: 'allow' | 'deny';
}

export interface OpenTarget extends TargetFacts {
  /** Writes setgroups (if given), then gid_map, then uid_map, each with one write(2). */
  write(maps: { uid: string; gid: string; setgroups: 'deny' | null }): void;
  close(): void;
}

function refuse(message: string, rule: string, hint: string, context: Record<string, unknown> = {}): FsidmapError {
  return new FsidmapError('ERR_BROKER_NAMESPACE', message, { hint, context: { rule, ...context } });
}

/** The checks that need no /proc file: owner, parent, the process behind the pidfd. */
export function inspectTarget(nsFd: number, pidfd: number): TargetFacts {
  const ns = fdIdentity(nsFd);
  const self = ownUserns();
  if (sameIdentity(ns, self))
    throw refuse(
      "the namespace is the broker's own (the initial user namespace)",
      'initial-namespace',
      'send the descriptor of a user namespace you created',
    );
  const parent = usernsParent(nsFd);
  if (parent === null || !sameIdentity(parent, self)) {
    throw refuse(
      'the user namespace is not a child of the initial one, so the broker cannot write its maps',
      'nested',
      'create the namespace from the initial user namespace (its maps are written from there)',
    );
  }
  const owner = usernsOwnerUid(nsFd);
  const pid = pidOfPidfd(pidfd);
  if (pid === null)
    throw refuse(
      'the process behind the pidfd has exited',
      'process-exited',
      'keep a process in the namespace alive until its maps are written',
    );
  const nsOf = procNs(pid);
  if (nsOf === null)
    throw refuse(`process ${pid} has exited`, 'process-exited', 'keep a process in the namespace alive until its maps are written', {
      pid,
    });
  if (!sameIdentity(nsOf, ns))
    throw refuse(
      `process ${pid} (the pidfd's) is not in the user namespace that was sent`,
      'namespace-mismatch',
      'send the pidfd of a process inside that namespace',
      { pid },
    );
  let st;
  try {
    st = statSync(`/proc/${pid}`);
  } catch {
    throw refuse(`process ${pid} has exited`, 'process-exited', 'keep a process in the namespace alive', { pid });
  }
  let setgroups: 'allow' | 'deny';
  try {
    setgroups = readFileSync(`/proc/${pid}/setgroups`, 'latin1').trim() === 'deny' ? 'deny' : 'allow';
  } catch {
    throw refuse(`process ${pid} has exited`, 'process-exited', 'keep a process in the namespace alive', { pid });
  }
  return { pid, owner, ns, procUid: st.uid, procGid: st.gid, setgroups };
}

/** Opens the map files of a target that inspectTarget described, and re-checks that they are its. */
export function openTarget(nsFd: number, pidfd: number, facts: TargetFacts, needSetgroups: boolean): OpenTarget {
  const { pid } = facts;
  const fds: Partial<Record<MapFile, number>> = {};
  const closeAll = () => {
    for (const fd of Object.values(fds)) closeSync(fd);
  };
  try {
    for (const name of mapFilesFor({ setgroups: needSetgroups ? 'deny' : null })) {
      try {
        fds[name] = openSync(`/proc/${pid}/${name}`, constants.O_WRONLY);
      } catch {
        throw refuse(
          `process ${pid} has exited (its ${name} could not be opened)`,
          'process-exited',
          'keep a process in the namespace alive until its maps are written',
          { pid },
        );
      }
    }
    if (!pidfdAlive(pidfd))
      throw refuse(
        `process ${pid} exited while its maps were being opened`,
        'process-exited',
        'keep a process in the namespace alive until its maps are written',
        { pid },
      );
    const now = procNs(pid);
    if (now === null || !sameIdentity(now, facts.ns))
      throw refuse(
        `process ${pid} left the user namespace while its maps were being opened`,
        'namespace-mismatch',
        'do not change namespaces while the broker writes maps',
        { pid },
      );
    for (const kind of ['uid', 'gid']) {
      if (readFileSync(`/proc/${pid}/${kind}_map`, 'latin1') !== '') {
        throw refuse(
          `the namespace's ${kind}_map is already written`,
          'already-written',
          'maps are write-once: create a new user namespace',
          { pid, kind },
        );
      }
    }
  } catch (e) {
    closeAll();
    throw e;
  }
  let open = true;
  return {
    ...facts,
    write(maps) {
      writeMapFiles(pid, fds as MapFileFds, { setgroups: maps.setgroups, gid: maps.gid, uid: maps.uid }, BROKER_HINTS);
    },
    close() {
      if (open) {
        open = false;
        closeAll();
      }
    },
  };
}

const BROKER_HINTS: RefusalHints = {
  EPERM: 'the kernel refused a map the broker had checked: was it written already, or is setgroups not "deny"?',
  EINVAL: 'the kernel refused a map the broker had checked as valid: please report this with the map',
};

function procNs(pid: number): NsIdentity | null {
  try {
    const st = statSync(`/proc/${pid}/ns/user`);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return null;
  }
}
