import { FsidmapError } from '../errors.js';
import { type IdMap, formatCompact } from '../idmap/index.js';
import type { Cred } from '../userns/cred.js';
import { makeKfsid } from '../userns/lookup.js';
import type { FsidSemantics } from '../userns/namespace.js';
import { setresid } from '../userns/setid.js';
import { UsernsSystem } from '../userns/system.js';
import { type Outcome, Trace } from '../userns/trace.js';
import { chownOk } from './attr.js';
import { fsViewOf } from './fs-view.js';
import { type ExtendedAcl, Inode, type InodeType, MAY_EXEC, MAY_READ, MAY_WRITE, Superblock } from './inode.js';
import type { Mount } from './mount.js';
import { inodePermission } from './permission.js';

/**
 * `fsidmap explain`: what a container with the given maps sees of a real
 * tree, and what its user may do there, entry by entry. The tree comes in
 * from an adapter (tree-reader.ts) in depth-first pre-order; each entry is
 * judged with the same rules as the simulator: stat through the fsid map,
 * read and write with DAC, ACLs and the capability overrides, chown with
 * chown_ok, and reachability through the search permission of every
 * directory above it.
 */
export interface TreeEntry {
  /** Path as shown (relative to the explained root, "." for the root itself). */
  readonly path: string;
  readonly depth: number;
  readonly type: InodeType | 'other';
  /** On-disk owner. */
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly acl: ExtendedAcl | null;
}

export interface Verdict {
  /** null: does not apply (reading a symlink, say). */
  readonly ok: boolean | null;
  readonly why: string;
}

export interface ExplainRow {
  readonly path: string;
  readonly type: string;
  readonly disk: { readonly uid: number; readonly gid: number };
  /** Owner as stat inside the container shows it (65534 when unmapped). */
  readonly seen: { readonly uid: number; readonly gid: number };
  readonly mode: number;
  readonly acl: boolean;
  readonly reachable: Verdict;
  readonly read: Verdict;
  readonly write: Verdict;
  readonly chown: Verdict;
}

export interface ExplainOptions {
  readonly uidmap: IdMap;
  readonly gidmap: IdMap;
  readonly fsuidmap?: IdMap;
  readonly fsgidmap?: IdMap;
  /** The container user, as ids inside the container (default 0:0, root with full capabilities there). */
  readonly as?: { readonly uid: number; readonly gid: number };
  readonly semantics?: FsidSemantics;
}

export class Explainer {
  readonly cred: Cred;
  private readonly sb: Superblock;
  private readonly mount: Mount;
  /** Search verdicts of the directories above the current entry, by depth. */
  private readonly searchable: Verdict[] = [];
  /** The kernel id chown would be asked to give a file: another id the container can name. */
  private readonly chownTargets: number[];

  constructor(o: ExplainOptions) {
    if ((o.fsuidmap === undefined) !== (o.fsgidmap === undefined)) {
      throw new FsidmapError('ERR_USAGE', 'give both --fsuidmap and --fsgidmap, or neither', {
        hint: 'fsid maps come in pairs, like id maps',
      });
    }
    const sys = new UsernsSystem(o.semantics ?? 'v3');
    const host = sys.spawn('host');
    const c = sys.fork(host, 'container');
    const ns = must(sys.unshare(c, 'container'), 'unshare').ns;
    // fsid maps before id maps (the v3 order); a runtime with host privilege writes them.
    if (o.fsuidmap && o.fsgidmap) {
      must(sys.writeMap(host, ns, 'fsuid', formatCompact(o.fsuidmap)), '--fsuidmap');
      must(sys.writeMap(host, ns, 'fsgid', formatCompact(o.fsgidmap)), '--fsgidmap');
    }
    must(sys.writeMap(host, ns, 'uid', formatCompact(o.uidmap)), '--uidmap');
    must(sys.writeMap(host, ns, 'gid', formatCompact(o.gidmap)), '--gidmap');
    const as = o.as ?? { uid: 0, gid: 0 };
    // Become root of the namespace first, as runtimes do, so that a non-root --as drops the capabilities.
    // (If the maps cannot take root, e.g. an fsid map without 0, the ids are set directly.)
    const g0 = setresid(c.cred, 'gid', 0, 0, 0);
    const u0 = g0.ok ? setresid(g0.value!, 'uid', 0, 0, 0) : g0;
    if (u0.ok) c.cred = u0.value!;
    c.cred = must(setresid(c.cred, 'gid', as.gid, as.gid, as.gid), `--as gid ${as.gid}`);
    c.cred = must(setresid(c.cred, 'uid', as.uid, as.uid, as.uid), `--as uid ${as.uid}`);
    this.cred = c.cred;
    this.sb = new Superblock(1, 'tree', 'ordinary', sys.init, { uid: 0, gid: 0, mode: 0o755 });
    this.mount = { id: 1, path: '/', sb: this.sb, root: this.sb.root, idmap: null };
    const t: number[] = [];
    for (const id of [0, 1, 2]) {
      const k = makeKfsid(ns, 'uid', id);
      if (k !== undefined) t.push(k);
    }
    this.chownTargets = t;
  }

  explain(e: TreeEntry): ExplainRow {
    this.searchable.length = e.depth;
    const reach = this.reachable(e.depth);
    const type = e.type === 'other' ? 'file' : e.type;
    const inode = new Inode(0, this.sb, type, e.uid, e.gid, e.mode, null);
    inode.acl = e.acl;
    const view = fsViewOf(this.sb);
    const ns = this.cred.userNs;
    const seen = { uid: view.fromMunged(ns, 'uid', e.uid), gid: view.fromMunged(ns, 'gid', e.gid) };
    const perm = (mask: number): Verdict => {
      const c = inodePermission(this.cred, this.mount, inode, mask, new Trace());
      return { ok: c.ok, why: c.why };
    };
    const gate = (v: Verdict): Verdict => (reach.ok ? v : { ok: false, why: `not reachable: ${reach.why}` });
    let read: Verdict, write: Verdict;
    if (e.type === 'symlink') {
      read = { ok: null, why: 'a symlink: readlink needs no permission on the link itself' };
      write = { ok: null, why: 'a symlink has no contents to write' };
    } else if (e.type === 'dir') {
      read = gate(perm(MAY_READ));
      const w = perm(MAY_WRITE | MAY_EXEC);
      write = gate(w.ok ? { ok: true, why: `may create and remove entries: ${w.why}` } : w);
      this.searchable[e.depth] = perm(MAY_EXEC);
    } else {
      read = gate(perm(MAY_READ));
      write = gate(perm(MAY_WRITE));
    }
    const target = this.chownTargets.find((k) => k !== e.uid);
    const chown: Verdict =
      target === undefined
        ? { ok: false, why: 'the container can name no other owner to give it' }
        : gate(((c) => ({ ok: c.ok, why: c.why }))(chownOk(this.cred, this.mount, inode, target)));
    return {
      path: e.path,
      type: e.type,
      disk: { uid: e.uid, gid: e.gid },
      seen,
      mode: e.mode,
      acl: e.acl !== null,
      reachable: reach,
      read,
      write,
      chown,
    };
  }

  private reachable(depth: number): Verdict {
    for (let d = 0; d < depth; d++) {
      const s = this.searchable[d];
      if (s && !s.ok) return { ok: false, why: `cannot search the directory at depth ${d}: ${s.why}` };
    }
    return { ok: true, why: 'every directory above it is searchable' };
  }
}

function must<T>(o: Outcome<T>, what: string): T {
  if (!o.ok) {
    throw new FsidmapError('ERR_USAGE', `${what}: the kernel would refuse this (${o.errno}): ${o.reason}`, {
      hint: 'check that the maps are valid and that --as names ids the maps cover',
    });
  }
  return o.value as T;
}
