import { initCred, type Cred } from './cred.js';
import { type MapKind } from '../idmap/index.js';
import { type MapWriteResult, writeMap, writeSetgroups } from './map-write.js';
import { type FsidSemantics, UserNamespace } from './namespace.js';
import { type Task } from './task.js';
import { type Outcome } from './trace.js';
import { type UnshareResult, unshareUserNs } from './unshare.js';

/**
 * The namespace tree and the processes of one model run: the initial
 * namespace, every namespace created since (by name), and the tasks. It
 * hands out namespace ids and pids; the rules live in the functions it calls.
 */
export class UsernsSystem {
  readonly init: UserNamespace;
  private readonly namespaces = new Map<string, UserNamespace>();
  private readonly tasks = new Map<string, Task>();
  private nextNsId = 1;
  private nextPid = 1;

  constructor(readonly semantics: FsidSemantics = 'v3') {
    this.init = UserNamespace.initial(semantics);
    this.namespaces.set(this.init.name, this.init);
  }

  namespace(name: string): UserNamespace | undefined {
    return this.namespaces.get(name);
  }

  task(name: string): Task | undefined {
    return this.tasks.get(name);
  }

  get allTasks(): Task[] {
    return [...this.tasks.values()];
  }

  get allNamespaces(): UserNamespace[] {
    return [...this.namespaces.values()];
  }

  /** A new process with the given credentials (init_cred: host root, when omitted). */
  spawn(name: string, cred: Cred = initCred(this.init), umask = 0o022): Task {
    if (this.tasks.has(name)) throw new Error(`internal: task ${name} exists`);
    const task: Task = { pid: this.nextPid++, name, cred, umask };
    this.tasks.set(name, task);
    return task;
  }

  /** fork(2): the child shares nothing but a copy of the credentials and umask. */
  fork(parent: Task, name: string): Task {
    return this.spawn(name, parent.cred, parent.umask);
  }

  /** unshare(CLONE_NEWUSER) by `task`: on success the task now lives in the new namespace. */
  unshare(task: Task, nsName: string): Outcome<UnshareResult> {
    if (this.namespaces.has(nsName)) throw new Error(`internal: namespace ${nsName} exists`);
    const o = unshareUserNs(task.cred, this.nextNsId, nsName);
    if (o.ok && o.value) {
      this.nextNsId++;
      this.namespaces.set(nsName, o.value.ns);
      task.cred = o.value.cred;
    }
    return o;
  }

  /** write(2) to /proc/PID/<kind>_map of a process in `target`, by `writer`. */
  writeMap(writer: Task, target: UserNamespace, kind: MapKind, text: string | Uint8Array): Outcome<MapWriteResult> {
    return writeMap(target, kind, text, writer.cred);
  }

  writeSetgroups(writer: Task, target: UserNamespace, text: string): Outcome<'allow' | 'deny'> {
    return writeSetgroups(target, text, writer.cred);
  }
}
