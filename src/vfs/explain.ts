import { FsidmapError } from '../errors.js';
import { type IdMap, formatCompact, mountMap } from '../idmap/index.js';
import type { Cred } from '../userns/cred.js';
import { makeKfsid } from '../userns/lookup.js';
import type { FsidSemantics } from '../userns/namespace.js';
import { setresid } from '../userns/setid.js';
import { UsernsSystem } from '../userns/system.js';
import { type Outcome, Trace } from '../userns/trace.js';
import { chownInode } from './attr.js';
import { fsViewOf } from './fs-view.js';
import { type ExtendedAcl, Inode, type InodeType, MAY_EXEC, MAY_READ, Superblock } from './inode.js';
import { type Mount, type MountIdmap, inodeVfsid } from './mount.js';
import { mayCreateIn } from './ops.js';
import { type Check, inodePermission } from './permission.js';

/**
 * `fsidmap explain`: what a container with the given maps sees of a real
 * tree, and what its user may do there, entry by entry. The tree comes in
 * from an adapter (tree-reader.ts) in depth-first pre-order; each entry is
 * judged with the same rules as the simulator: stat, read and write with
 * DAC, ACLs and the capability overrides, creating in a directory
 * (may_create), chown through setattr, and reachability through the search
 * permission of every directory above it.
 *
 * Fsid maps have two realisations, and they differ for writes (issue 21):
 * `idmapped-mount` (the default) judges what `fsidmap run` and `fsidmap
 * mount` really give — a namespace with only the id maps, the tree seen
 * through an idmapped mount with map idmap ∘ fsidmap⁻¹, where an owner the
 * mount cannot map is an invalid vfsuid and nobody may write the inode;
 * `fsid-series` judges the unmerged series' plain mount, where such an owner
 * is still a valid kernel id. When fsid maps are given, each verdict that
 * the other realisation would answer differently carries that answer.
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

export const REALISATIONS = ['idmapped-mount', 'fsid-series'] as const;
export type Realisation = (typeof REALISATIONS)[number];

/** The other realisation's answer, where it differs. */
export interface Contrast {
  readonly realisation: Realisation;
  readonly ok: boolean | null;
  readonly rule: string | null;
  readonly why: string;
}

export interface Verdict {
  /** null: does not apply (reading a symlink, say). */
  readonly ok: boolean | null;
  /** The kernel rule that decided (inode_permission, chown_ok, …); null where none applies. */
  readonly rule?: string | null;
  readonly why: string;
  /** With fsid maps, on a "no": `both` when the other realisation refuses too, else the realisation whose rule refused. */
  readonly by?: Realisation | 'both';
  readonly contrast?: Contrast;
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
  /** The fsid-map series' semantics, for the fsid-series realisation (and without fsid maps). */
  readonly semantics?: FsidSemantics;
  /** How fsid maps are realised (default idmapped-mount, what run and mount do). */
  readonly realisation?: Realisation;
}

type Verdicts = Pick<ExplainRow, 'reachable' | 'read' | 'write' | 'chown'>;
const VERDICTS = ['reachable', 'read', 'write', 'chown'] as const;

export class Explainer {
  readonly cred: Cred;
  readonly realisation: Realisation;
  private readonly judge: Judge;
  /** The other realisation, with fsid maps only (without them the two are the same mount). */
  private readonly other: Judge | null;
  private readonly hasFsid: boolean;
  /** The ids inside the container that chown would be asked to give, with their on-disk uid. */
  private readonly chownTargets: Array<{ id: number; disk: number }>;

  constructor(o: ExplainOptions) {
    if ((o.fsuidmap === undefined) !== (o.fsgidmap === undefined)) {
      throw new FsidmapError('ERR_USAGE', 'give both --fsuidmap and --fsgidmap, or neither', {
        hint: 'fsid maps come in pairs, like id maps',
      });
    }
    this.realisation = o.realisation ?? 'idmapped-mount';
    this.hasFsid = o.fsuidmap !== undefined;
    this.judge = new Judge(o, this.hasFsid ? this.realisation : 'fsid-series');
    this.cred = this.judge.cred;
    let other: Judge | null = null;
    if (this.hasFsid) {
      // The contrast is advice: maps one realisation cannot take (an --as outside the fsid map, say) leave it out.
      try {
        other = new Judge(o, this.realisation === 'idmapped-mount' ? 'fsid-series' : 'idmapped-mount');
      } catch (e) {
        if (!(e instanceof FsidmapError)) throw e;
      }
    }
    this.other = other;
    // Ids the container can name and the filesystem can store, as both realisations agree on them.
    const t: Array<{ id: number; disk: number }> = [];
    for (const id of [0, 1, 2]) {
      const k = o.uidmap.mapIdDown(id);
      const disk = o.fsuidmap ? o.fsuidmap.mapIdDown(id) : k;
      if (k !== undefined && disk !== undefined) t.push({ id, disk });
    }
    this.chownTargets = t;
  }

  explain(e: TreeEntry): ExplainRow {
    const target = this.chownTargets.find((t) => t.disk !== e.uid);
    const mine = this.judge.judge(e, target);
    const theirs = this.other?.judge(e, target);
    const v = {} as Record<(typeof VERDICTS)[number], Verdict>;
    for (const k of VERDICTS) {
      const a = mine.verdicts[k],
        b = theirs?.verdicts[k];
      const differs = b !== undefined && b.ok !== a.ok;
      v[k] = {
        ...a,
        ...(this.hasFsid && a.ok === false ? { by: differs ? this.realisation : 'both' } : {}),
        ...(differs ? { contrast: { realisation: this.other!.realisation, ok: b.ok, rule: b.rule ?? null, why: b.why } } : {}),
      };
    }
    return {
      path: e.path,
      type: e.type,
      disk: { uid: e.uid, gid: e.gid },
      seen: mine.seen,
      mode: e.mode,
      acl: e.acl !== null,
      ...v,
    };
  }
}

/** One realisation: a container's credentials and the mount it sees the tree through. */
class Judge {
  readonly cred: Cred;
  private readonly sb: Superblock;
  private readonly mount: Mount;
  /** Search verdicts of the directories above the current entry, by depth. */
  private readonly searchable: Verdict[] = [];

  constructor(
    o: ExplainOptions,
    readonly realisation: Realisation,
  ) {
    const mounted = realisation === 'idmapped-mount' && o.fsuidmap !== undefined && o.fsgidmap !== undefined;
    // The idmapped mount runs on today's kernel: the namespace has id maps only, the fsid maps live in the mount.
    const sys = new UsernsSystem(mounted ? 'off' : (o.semantics ?? 'v3'));
    const host = sys.spawn('host');
    const c = sys.fork(host, 'container');
    const ns = must(sys.unshare(c, 'container'), 'unshare').ns;
    // fsid maps before id maps (the v3 order); a runtime with host privilege writes them.
    if (!mounted && o.fsuidmap && o.fsgidmap) {
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
    // What run and mount make (src/broker/map-policy.ts mountMapsOf): M = idmap ∘ fsidmap⁻¹, refused when it leaves ids unreachable.
    const idmap: MountIdmap | null = mounted
      ? {
          uid: runMountMap(o.uidmap, o.fsuidmap!),
          gid: runMountMap(o.gidmap, o.fsgidmap!),
          from: 'idmap ∘ fsidmap⁻¹, as run and mount make it',
        }
      : null;
    this.mount = { id: 1, path: '/', sb: this.sb, root: this.sb.root, idmap };
  }

  judge(e: TreeEntry, target: { id: number } | undefined): { seen: ExplainRow['seen']; verdicts: Verdicts } {
    this.searchable.length = e.depth;
    const reachable = this.reachable(e.depth);
    const type = e.type === 'other' ? 'file' : e.type;
    const inode = (): Inode => {
      const i = new Inode(0, this.sb, type, e.uid, e.gid, e.mode, null);
      i.acl = e.acl;
      return i;
    };
    const it = inode();
    const view = fsViewOf(this.sb);
    const ns = this.cred.userNs;
    const seen = {
      uid: view.fromMunged(ns, 'uid', inodeVfsid(this.mount.idmap, it, 'uid')),
      gid: view.fromMunged(ns, 'gid', inodeVfsid(this.mount.idmap, it, 'gid')),
    };
    const perm = (mask: number): Verdict => verdict(inodePermission(this.cred, this.mount, it, mask, new Trace()));
    const gate = (v: Verdict): Verdict => (reachable.ok ? v : { ok: false, rule: reachable.rule, why: `not reachable: ${reachable.why}` });
    let read: Verdict, write: Verdict;
    if (e.type === 'symlink') {
      read = { ok: null, rule: null, why: 'a symlink: readlink needs no permission on the link itself' };
      write = { ok: null, rule: null, why: 'a symlink has no contents to write' };
    } else if (e.type === 'dir') {
      read = gate(perm(MAY_READ));
      const w = verdict(mayCreateIn(this.cred, this.mount, it));
      write = gate(w.ok ? { ...w, why: `may create and remove entries: ${w.why}` } : w);
      this.searchable[e.depth] = perm(MAY_EXEC);
    } else {
      read = gate(perm(MAY_READ));
      write = gate(perm(0o2));
    }
    let chown: Verdict;
    if (target === undefined) chown = { ok: false, rule: null, why: 'the container can name no other owner to give it' };
    else {
      const c = chownInode(this.cred, this.mount, inode(), target.id, -1);
      chown = gate({ ok: c.ok, rule: c.rule, why: `to uid ${target.id}: ${c.reason}` });
    }
    return { seen, verdicts: { reachable, read, write, chown } };
  }

  private reachable(depth: number): Verdict {
    for (let d = 0; d < depth; d++) {
      const s = this.searchable[d];
      if (s && !s.ok) return { ok: false, rule: s.rule ?? null, why: `cannot search the directory at depth ${d}: ${s.why}` };
    }
    return { ok: true, rule: null, why: 'every directory above it is searchable' };
  }
}

/** mountMap, with its refusals turned into usage errors that name the way out. */
function runMountMap(idmap: IdMap, fsidmap: IdMap): IdMap {
  try {
    return mountMap(idmap, fsidmap);
  } catch (e) {
    if (!(e instanceof FsidmapError)) throw e;
    throw new FsidmapError('ERR_USAGE', `fsidmap run and mount would refuse these maps: ${e.message}`, {
      cause: e,
      context: { code: e.code, ...(e.context ?? {}) },
      hint: `${e.hint ?? ''}; or judge them in the series' model with --realisation fsid-series`,
    });
  }
}

function verdict(c: Check): Verdict {
  return { ok: c.ok, rule: c.rule, why: c.why };
}

function must<T>(o: Outcome<T>, what: string): T {
  if (!o.ok) {
    throw new FsidmapError('ERR_USAGE', `${what}: the kernel would refuse this (${o.errno}): ${o.reason}`, {
      hint: 'check that the maps are valid and that --as names ids the maps cover',
    });
  }
  return o.value as T;
}
