import { type Cap } from '../userns/caps.js';
import { capsetEffective, setKeepCaps, setgroups, setresid } from '../userns/setid.js';
import { UsernsSystem } from '../userns/system.js';
import type { Task } from '../userns/task.js';
import type { FsidSemantics, UserNamespace } from '../userns/namespace.js';
import { Vfs } from './vfs.js';

/**
 * Small worlds for the vfs unit tests: a container namespace with id maps
 * (and optional fsid maps) written by host root, and processes in it made
 * the way a runtime makes them. Not part of the library API.
 */
export interface TestWorld {
  readonly sys: UsernsSystem;
  readonly vfs: Vfs;
  readonly host: Task;
  readonly ns: UserNamespace;
  proc(name: string, uid: number, gid: number, o?: { groups?: number[]; caps?: Cap[] }): Task;
}

export function testWorld(o: { id?: string; fsid?: string; semantics?: FsidSemantics } = {}): TestWorld {
  const sys = new UsernsSystem(o.semantics ?? 'v3');
  const host = sys.spawn('host');
  const holder = sys.fork(host, 'holder');
  const ns = sys.unshare(holder, 'c').value!.ns;
  if (o.fsid) for (const k of ['fsuid', 'fsgid'] as const) must(sys.writeMap(host, ns, k, `${o.fsid}\n`));
  for (const k of ['uid', 'gid'] as const) must(sys.writeMap(host, ns, k, `${o.id ?? '0 100000 65536'}\n`));
  const vfs = new Vfs(sys.init);
  return {
    sys,
    vfs,
    host,
    ns,
    proc(name, uid, gid, po = {}) {
      const t = sys.fork(holder, name);
      t.cred = must(setresid(must(setresid(t.cred, 'gid', 0, 0, 0)), 'uid', 0, 0, 0));
      if (po.groups) t.cred = must(setgroups(t.cred, po.groups));
      if (po.caps) t.cred = setKeepCaps(t.cred, true);
      t.cred = must(setresid(t.cred, 'gid', gid, gid, gid));
      t.cred = must(setresid(t.cred, 'uid', uid, uid, uid));
      if (po.caps) t.cred = must(capsetEffective(t.cred, new Set(po.caps)));
      return t;
    },
  };
}

function must<T>(o: { ok: boolean; value?: T; reason: string }): T {
  if (!o.ok) throw new Error(o.reason);
  return o.value as T;
}
