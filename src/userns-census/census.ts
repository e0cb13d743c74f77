import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { nsHandleAlive } from '../kernel/userns/ns-handle.js';
import { readLedger } from './ledger.js';
import { type Extent, parseMapText } from './map-text.js';

export { type Extent, parseMapText };

/**
 * Which host ids the user namespaces on this host map, as the kernel says:
 * the truth a released range must be checked against before anyone else may
 * have it (docs/alloc.md, "Draining"). A namespace is found
 *
 * - through every process: /proc/PID/ns/user, and its uid_map and gid_map
 *   read from the initial namespace, so the lower column is in host ids
 *   whatever the nesting;
 * - through every handle that keeps a namespace alive without a process in
 *   it: an nsfs descriptor open in any process (/proc/PID/fd/N →
 *   "user:[INO]") and an nsfs bind mount in any mount namespace that has a
 *   process (/proc/PID/mountinfo, fstype nsfs, root "user:[INO]"). Such a
 *   namespace has no /proc/PID of its own, so a helper enters it (nsenter
 *   --user=HANDLE --preserve-credentials) and its maps are read, again from
 *   the initial namespace, through /proc/HELPER.
 *
 * - through the kernel itself, for every namespace fsidmap wrote maps for
 *   (ledger.ts): its file handle opens for as long as the namespace exists,
 *   however it is kept — which covers what no /proc walk can see: a
 *   namespace descriptor in flight in a socket's queue, a namespace kept
 *   only by another namespace it owns, a bind mount in a mount namespace
 *   with no process left.
 *
 * What it still cannot see (docs/alloc.md lists it), for namespaces whose
 * maps someone else wrote (root itself, or newuidmap over /etc/subuid
 * ranges, which the registry never hands out): those three. A handle that
 * cannot be read in time is reported in `unreadable` and must be taken as
 * mapping everything.
 */

export interface MappedNamespace {
  readonly inode: number;
  readonly uid: readonly Extent[];
  readonly gid: readonly Extent[];
  /** How it was found, for people: "process 42", "fd 5 of process 42", "bind mount /x (mount namespace of process 42)". */
  readonly via: string;
}

export interface Census {
  readonly namespaces: readonly MappedNamespace[];
  /** Handles whose namespace could not be read (each must be taken as mapping every id). */
  readonly unreadable: readonly string[];
}

export interface CensusOptions {
  readonly proc?: string;
  /** How long one handle's helper may take (ms). */
  readonly handleTimeoutMs?: number;
  /** Helpers at once. */
  readonly concurrency?: number;
  /** The ledger of namespaces fsidmap wrote maps for (default ledgerDir()); false: the /proc walk alone. */
  readonly ledger?: string | false;
  /**
   * For namespaces of the ledger the walk did not find: wait up to this long
   * (ms) for their handles to go stale before counting them. The kernel frees
   * a namespace a moment after its last process is reaped; a release made
   * right at a container's exit would otherwise find it still there.
   */
  readonly settleMs?: number;
}

const NS_LINK = /^user:\[(\d+)\]$/;

function link(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

function nsInode(path: string): number | null {
  const m = NS_LINK.exec(link(path) ?? '');
  return m ? Number(m[1]) : null;
}

function readMaps(dir: string): { uid: Extent[]; gid: Extent[] } | null {
  try {
    return { uid: parseMapText(readFileSync(`${dir}/uid_map`, 'latin1')), gid: parseMapText(readFileSync(`${dir}/gid_map`, 'latin1')) };
  } catch {
    return null;
  }
}

/** mountinfo field 4 is the root, field 5 the mount point; fields after " - " start with the fstype. Octal escapes undone. */
function nsfsMounts(text: string): { inode: number; mountPoint: string }[] {
  const out: { inode: number; mountPoint: string }[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0 || !line.slice(sep + 3).startsWith('nsfs ')) continue;
    const f = line.slice(0, sep).split(' ');
    const m = NS_LINK.exec(f[3] ?? '');
    if (m)
      out.push({ inode: Number(m[1]), mountPoint: f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) });
  }
  return out;
}

/** Every user namespace on the host other than fsidmap's own, with its maps in host ids. */
export async function takeCensus(options: CensusOptions = {}): Promise<Census> {
  const proc = options.proc ?? '/proc';
  const own = nsInode(`${proc}/self/ns/user`);
  const found = new Map<number, MappedNamespace>();
  const handles = new Map<number, { path: string; via: string }>();
  const mountNamespaces = new Set<string>();
  for (const name of readdirSync(proc)) {
    if (!/^\d+$/.test(name)) continue;
    const dir = `${proc}/${name}`;
    // A thread-group leader that exited leaves its threads' namespaces under task/.
    const tasks = nsInode(`${dir}/ns/user`) !== null ? [dir] : taskDirs(dir);
    for (const t of tasks) {
      const ino = nsInode(`${t}/ns/user`);
      if (ino === null || ino === own || found.has(ino)) continue;
      const maps = readMaps(t);
      if (maps) found.set(ino, { inode: ino, ...maps, via: `process ${name}` });
    }
    let fds: string[] = [];
    try {
      fds = readdirSync(`${dir}/fd`);
    } catch {
      /* exited, or a kernel thread */
    }
    for (const fd of fds) {
      const ino = nsInode(`${dir}/fd/${fd}`);
      if (ino !== null && ino !== own && !handles.has(ino))
        handles.set(ino, { path: `${dir}/fd/${fd}`, via: `fd ${fd} of process ${name}` });
    }
    const mnt = link(`${dir}/ns/mnt`);
    if (mnt !== null && !mountNamespaces.has(mnt)) {
      mountNamespaces.add(mnt);
      let text = '';
      try {
        text = readFileSync(`${dir}/mountinfo`, 'latin1');
      } catch {
        /* exited */
      }
      for (const m of nsfsMounts(text)) {
        if (m.inode !== own && !handles.has(m.inode))
          handles.set(m.inode, {
            path: `${dir}/root${m.mountPoint}`,
            via: `bind mount ${m.mountPoint} (mount namespace of process ${name})`,
          });
      }
    }
  }
  const unreadable: string[] = [];
  const todo = [...handles].filter(([ino]) => !found.has(ino));
  const worker = async () => {
    for (let next = todo.shift(); next; next = todo.shift()) {
      const [ino, h] = next;
      const r = await mapsThroughHandle(h.path, proc, options.handleTimeoutMs ?? 2000);
      if (r === 'gone') continue;
      if (r === 'unreadable') unreadable.push(h.via);
      else if (r.inode === ino) found.set(ino, { inode: ino, uid: r.uid, gid: r.gid, via: h.via });
      else if (r.inode !== own) found.set(r.inode, { inode: r.inode, uid: r.uid, gid: r.gid, via: h.via });
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, todo.length) }, worker));
  if (options.ledger !== false) {
    const ledger = readLedger(options.ledger);
    let unseen = ledger.alive.filter((e) => !found.has(e.inode));
    for (const until = Date.now() + (options.settleMs ?? 0); unseen.length > 0 && Date.now() < until;) {
      await new Promise((r) => setTimeout(r, 20));
      unseen = unseen.filter((e) => nsHandleAlive(e.handle) !== false);
    }
    for (const e of unseen)
      if (!found.has(e.inode))
        found.set(e.inode, {
          inode: e.inode,
          uid: e.uid,
          gid: e.gid,
          via: `the kernel: fsidmap wrote its maps (${e.by}) and it still exists, with no process or handle visible in /proc`,
        });
    for (const e of ledger.unknown) if (!found.has(e.inode)) unreadable.push(`user namespace ${e.inode} of the ledger (${e.by})`);
  }
  return { namespaces: [...found.values()], unreadable };
}

function taskDirs(dir: string): string[] {
  try {
    return readdirSync(`${dir}/task`).map((t) => `${dir}/task/${t}`);
  } catch {
    return [];
  }
}

/**
 * Enters the namespace a handle names with a helper and reads the helper's
 * maps from here (host ids). "gone" when the handle vanished meanwhile (the
 * namespace may have gone with it; the next census decides).
 */
function mapsThroughHandle(
  path: string,
  proc: string,
  timeoutMs: number,
): Promise<{ inode: number; uid: Extent[]; gid: Extent[] } | 'gone' | 'unreadable'> {
  return new Promise((resolve) => {
    let done = false;
    let out = '';
    let err = '';
    const child = spawn('nsenter', [`--user=${path}`, '--preserve-credentials', '--', '/bin/sh', '-c', 'echo ready; read x'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const finish = (v: { inode: number; uid: Extent[]; gid: Extent[] } | 'gone' | 'unreadable') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.stdin?.end();
      if (child.exitCode === null) child.kill('SIGKILL');
      resolve(v);
    };
    const timer = setTimeout(() => finish('unreadable'), timeoutMs);
    child.on('error', () => finish('unreadable'));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (!out.includes('ready')) return;
      const ino = nsInode(`${proc}/${child.pid}/ns/user`);
      const maps = readMaps(`${proc}/${child.pid}`);
      finish(ino !== null && maps ? { inode: ino, ...maps } : 'unreadable');
    });
    child.on('exit', () => {
      // nsenter could not open the handle: it was closed or unmounted in between.
      if (/No such file|cannot open/.test(err)) finish('gone');
      else finish('unreadable');
    });
  });
}

/** The first namespace mapping any id of [start, end) on that side, or null. */
export function mappingOf(census: Census, side: 'uid' | 'gid', start: number, end: number): MappedNamespace | null {
  for (const ns of census.namespaces) {
    for (const [, lower, count] of ns[side]) if (lower < end && lower + count > start) return ns;
  }
  return null;
}

/** Why a range is still in use on this host, or null when no namespace maps any of it. */
export function stillMapped(census: Census, uid: { start: number; end: number }, gid: { start: number; end: number }): string | null {
  if (census.unreadable.length > 0) return `a user namespace that could not be read (${census.unreadable[0]}) may map it`;
  const u = mappingOf(census, 'uid', uid.start, uid.end);
  if (u) return `user namespace ${u.inode} (${u.via}) maps uids of it`;
  const g = mappingOf(census, 'gid', gid.start, gid.end);
  if (g) return `user namespace ${g.inode} (${g.via}) maps gids of it`;
  return null;
}
