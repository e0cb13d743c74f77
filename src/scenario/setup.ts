import { FsidmapError } from '../errors.js';
import { capsetEffective, setfsid, setgroups, setKeepCaps, setresid } from '../userns/setid.js';
import { UsernsSystem } from '../userns/system.js';
import type { Task } from '../userns/task.js';
import type { Outcome } from '../userns/trace.js';
import type { FsidSemantics } from '../userns/namespace.js';
import { makeIdmappedMount } from '../vfs/idmapped.js';
import { Vfs } from '../vfs/vfs.js';
import type { NamespaceSpec, ProcWrite, ProcessSpec, Scenario } from './schema.js';

/** A scenario's world after setup: the namespace tree with its tasks, and the filesystem. */
export interface World {
  readonly sys: UsernsSystem;
  readonly vfs: Vfs;
  readonly host: Task;
}

function setupError(what: string, o: Outcome<unknown>): never {
  throw new FsidmapError('ERR_SCENARIO_SETUP', `${what}: ${o.errno}: ${o.reason}`, {
    context: { errno: o.errno, rule: o.rule },
    hint: 'the setup sections must succeed; to test a refusal, make it a step with an expected errno',
  });
}

function must<T>(o: Outcome<T>, what: string): T {
  if (!o.ok) setupError(what, o);
  return o.value as T;
}

/** The task that holds a namespace: the creator's fork that unshared it (root of it, full capabilities). */
export function holderName(ns: string): string {
  return `ns:${ns}`;
}

/**
 * Builds the world a scenario declares: namespaces (unshared by their
 * creators, maps written by their writers: fsid maps first, then setgroups,
 * then id maps, as v3 requires), processes (forked and given their ids with
 * the syscalls a runtime makes: setresgid/setresuid(0) when the namespace
 * maps root and the process may, then setgroups, setresgid, setresuid,
 * setfsgid, setfsuid and capset), filesystems, the tree and the mounts.
 * Namespaces and processes may refer to each other in any order; they are
 * made as soon as what they need exists.
 */
export function buildWorld(s: Scenario, semantics: FsidSemantics): World {
  const sys = new UsernsSystem(semantics);
  const host = sys.spawn('host');
  let pendingNs = [...s.namespaces];
  let pendingProcs = [...s.processes];
  while (pendingNs.length > 0 || pendingProcs.length > 0) {
    const before = pendingNs.length + pendingProcs.length;
    const writersReady = (n: NamespaceSpec) =>
      [...Object.values(n.maps), n.setgroups].every((w) => !w || w.writer === 'self' || sys.task(w.writer));
    pendingNs = pendingNs.filter((n) => !(sys.task(n.creator) && writersReady(n) && (makeNamespace(sys, n), true)));
    pendingProcs = pendingProcs.filter((p) => !(sys.namespace(p.ns) && (!p.from || sys.task(p.from)) && (makeProcess(sys, p), true)));
    if (pendingNs.length + pendingProcs.length === before) {
      const names = [
        ...pendingNs.map((n) => `namespace ${n.name} (creator ${n.creator})`),
        ...pendingProcs.map((p) => `process ${p.name} (ns ${p.ns}${p.from ? `, from ${p.from}` : ''})`),
      ];
      throw new FsidmapError(
        'ERR_SCENARIO_INVALID',
        `cannot set up ${names.join('; ')}: they name processes or namespaces that are never declared (or depend on each other)`,
        {
          hint: '"host" and "init" always exist; every other name must be declared under processes or namespaces',
        },
      );
    }
  }

  const vfs = new Vfs(sys.init, s.root);
  for (const fs of s.filesystems) {
    const ns = sys.namespace(fs.userns) ?? invalid(`filesystem ${fs.name}: unknown namespace "${fs.userns}"`);
    ensureDir(vfs, fs.mount);
    const sb = vfs.addSuperblock(fs.name, fs.kind, ns, fs.root);
    vfs.mount(fs.mount, sb.root, null);
  }
  for (const e of s.tree) vfs.put(e.path, e);
  for (const m of s.mounts) {
    ensureDir(vfs, m.path);
    if (m.idmap === undefined) {
      const src = vfs.lookupNoPerm(m.source).inode ?? invalid(`mount ${m.path}: source ${m.source} does not exist`);
      vfs.mount(m.path, src, null);
    } else {
      const ns = sys.namespace(m.idmap) ?? invalid(`mount ${m.path}: unknown namespace "${m.idmap}"`);
      must(makeIdmappedMount(vfs, host, m.source, m.path, ns), `idmapped mount of ${m.source} at ${m.path}`);
    }
  }
  return { sys, vfs, host };
}

function makeNamespace(sys: UsernsSystem, n: NamespaceSpec): void {
  if (sys.namespace(n.name)) invalid(`namespace "${n.name}" is declared twice (or is "init")`);
  const holder = sys.fork(sys.task(n.creator)!, holderName(n.name));
  const ns = must(sys.unshare(holder, n.name), `namespace ${n.name}: unshare by ${n.creator}`).ns;
  const writer = (w: ProcWrite) => (w.writer === 'self' ? holder : sys.task(w.writer)!);
  // setgroups first (an unprivileged gid or fsgid map write needs "deny" before it), then fsid maps, then id maps (v3 order).
  if (n.setgroups)
    must(
      sys.writeSetgroups(writer(n.setgroups), ns, n.setgroups.text),
      `namespace ${n.name}: setgroups ${n.setgroups.text} by ${writer(n.setgroups).name}`,
    );
  for (const k of ['fsuid', 'fsgid', 'uid', 'gid'] as const) {
    const w = n.maps[k];
    if (w) must(sys.writeMap(writer(w), ns, k, mapText(w.text)), `namespace ${n.name}: ${k}_map written by ${writer(w).name}`);
  }
}

function makeProcess(sys: UsernsSystem, p: ProcessSpec): void {
  if (sys.task(p.name)) invalid(`process "${p.name}" is declared twice (or is "host")`);
  const from = p.from ? sys.task(p.from)! : p.ns === 'init' ? sys.task('host')! : sys.task(holderName(p.ns))!;
  if (from.cred.userNs.name !== p.ns)
    invalid(`process ${p.name}: "from" process ${from.name} lives in ${from.cred.userNs.name}, not in ${p.ns}`);
  const t = sys.fork(from, p.name);
  t.umask = p.umask;
  const what = `process ${p.name}`;
  // As runtimes do (runc's nsexec, lxc): first become root of the namespace, so that dropping to
  // the target uid afterwards also drops the capabilities (cap_emulate_setxuid compares with ns root).
  // The holder still has the creator's kernel ids, which are not the namespace's root.
  // When the maps cannot take root (no 0, or an fsid map without it) the ids are set directly.
  const g0 = setresid(t.cred, 'gid', 0, 0, 0);
  const u0 = g0.ok ? setresid(g0.value!, 'uid', 0, 0, 0) : g0;
  if (u0.ok) t.cred = u0.value!;
  if (p.groups) t.cred = must(setgroups(t.cred, p.groups), `${what}: setgroups`);
  if (p.caps) t.cred = setKeepCaps(t.cred, true);
  t.cred = must(setresid(t.cred, 'gid', p.gid, p.gid, p.gid), `${what}: setresgid(${p.gid})`);
  t.cred = must(setresid(t.cred, 'uid', p.uid, p.uid, p.uid), `${what}: setresuid(${p.uid})`);
  if (p.fsgid !== undefined) t.cred = must(setfsid(t.cred, 'gid', p.fsgid), `${what}: setfsgid`);
  if (p.fsuid !== undefined) t.cred = must(setfsid(t.cred, 'uid', p.fsuid), `${what}: setfsuid`);
  if (p.caps) t.cred = must(capsetEffective(t.cred, p.caps), `${what}: capset`);
}

/** Map text as written to the proc file: inline specs (0:100000:65536,…) become lines. */
export function mapText(spec: string): string {
  const s = spec.trim();
  if (/^\d+:\d+:\d+(,\d+:\d+:\d+)*$/.test(s))
    return (
      s
        .split(',')
        .map((p) => p.split(':').join(' '))
        .join('\n') + '\n'
    );
  return spec.endsWith('\n') ? spec : spec + '\n';
}

/** Mount points (and their parents) that the tree does not declare are made root-owned 0755, like mkdir -p by root. */
function ensureDir(vfs: Vfs, path: string): void {
  const parts = path.split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const p = '/' + parts.slice(0, i).join('/');
    if (!vfs.lookupNoPerm(p).inode) vfs.put(p, { type: 'dir', uid: 0, gid: 0, mode: 0o755 });
  }
}

function invalid(message: string): never {
  throw new FsidmapError('ERR_SCENARIO_INVALID', message);
}
