import { FsidmapError } from '../errors.js';
import type { IdKind } from '../userns/lookup.js';
import type { UserNamespace } from '../userns/namespace.js';
import type { Task } from '../userns/task.js';
import { type Errno, Trace } from '../userns/trace.js';
import { type ExtendedAcl, type Inode, type InodeType, MAY_EXEC, Superblock, type SuperblockKind } from './inode.js';
import { type Mount, type MountIdmap, describeIdmap } from './mount.js';
import { inodePermission } from './permission.js';

/** Where a path walk ended: the final object (if it exists) and its parent directory. */
export interface Walked {
  readonly mount: Mount;
  readonly inode: Inode | undefined;
  readonly parentMount: Mount;
  readonly parent: Inode;
  readonly name: string;
}

export type WalkResult = { ok: true; at: Walked } | { ok: false; errno: Errno; rule: string; why: string };

/**
 * The simulated filesystem tree: superblocks, the inodes in them, and one
 * mount table (absolute path → mount) shared by every task. Setup methods
 * (addSuperblock, mount, put) are the administrator's hand and check no
 * permissions; the operations in ops.ts, attr.ts and delete.ts do.
 */
export class Vfs {
  private readonly superblocks = new Map<string, Superblock>();
  private readonly mounts = new Map<string, Mount>();
  private nextSb = 1;
  private nextMount = 1;

  constructor(
    readonly init: UserNamespace,
    root: { uid: number; gid: number; mode: number } = { uid: 0, gid: 0, mode: 0o755 },
  ) {
    const sb = this.addSuperblock('disk', 'ordinary', init, root);
    this.mounts.set('/', { id: this.nextMount++, path: '/', sb, root: sb.root, idmap: null });
  }

  /** A new filesystem; `root` gives its root directory's on-disk owner and mode. */
  addSuperblock(name: string, kind: SuperblockKind, userNs: UserNamespace, root: { uid: number; gid: number; mode: number }): Superblock {
    if (this.superblocks.has(name)) throw new FsidmapError('ERR_VFS_EXISTS', `superblock "${name}" already exists`);
    const uid = this.kid(userNs, 'uid', root.uid, `root of ${name}`),
      gid = this.kid(userNs, 'gid', root.gid, `root of ${name}`);
    const sb = new Superblock(this.nextSb++, name, kind, userNs, { uid, gid, mode: root.mode });
    this.superblocks.set(name, sb);
    return sb;
  }

  superblock(name: string): Superblock | undefined {
    return this.superblocks.get(name);
  }

  /**
   * Attaches `root` (a superblock root, or any directory for a bind mount)
   * at the existing directory `path`, optionally idmapped.
   */
  mount(path: string, root: Inode, idmap: MountIdmap | null): Mount {
    const p = normalizePath(path);
    if (this.mounts.has(p))
      throw new FsidmapError('ERR_VFS_EXISTS', `${p} is already a mount point in the model`, { hint: 'mount on a fresh directory' });
    const at = this.lookupNoPerm(p);
    if (!at.inode || !at.inode.isDir) throw new FsidmapError('ERR_VFS_PATH', `mount point ${p} is not an existing directory`);
    if (!root.isDir) throw new FsidmapError('ERR_VFS_PATH', 'only directories can be mounted in the model');
    const m: Mount = { id: this.nextMount++, path: p, sb: root.sb, root, idmap };
    this.mounts.set(p, m);
    return m;
  }

  mountAt(path: string): Mount | undefined {
    return this.mounts.get(normalizePath(path));
  }

  get allMounts(): Mount[] {
    return [...this.mounts.values()];
  }

  /** Creates (or replaces the metadata of) an entry with raw on-disk owners, as an image on disk would have them. */
  put(path: string, e: { type: InodeType; uid: number; gid: number; mode: number; acl?: ExtendedAcl | null; target?: string }): Inode {
    const p = normalizePath(path);
    if (p === '/') throw new FsidmapError('ERR_VFS_PATH', 'the root directory is given when the tree is made');
    const at = this.lookupNoPerm(p);
    const sb = at.parent.sb;
    const uid = this.kid(sb.userNs, 'uid', e.uid, p),
      gid = this.kid(sb.userNs, 'gid', e.gid, p);
    let inode = at.inode;
    if (inode && inode.type !== e.type) throw new FsidmapError('ERR_VFS_EXISTS', `${p} already exists as a ${inode.type}`);
    if (!inode) {
      inode = sb.newInode(e.type, uid, gid, e.mode, at.parent);
      at.parent.children!.set(at.name, inode);
    } else {
      inode.uid = uid;
      inode.gid = gid;
      inode.mode = e.mode;
    }
    inode.acl = e.acl ?? null;
    if (e.target !== undefined) inode.target = e.target;
    return inode;
  }

  /** The administrator's view (no permission checks): the object at `path`, crossing mounts. */
  lookupNoPerm(path: string): Walked {
    const r = this.walk(null, path, new Trace());
    if (!r.ok) throw new FsidmapError('ERR_VFS_PATH', `${normalizePath(path)}: ${r.why}`, { context: { errno: r.errno } });
    return r.at;
  }

  /**
   * link_path_walk + the last component: for each component, the directory
   * it is looked up in must be a directory (ENOTDIR) and searchable by the
   * task (may_lookup: MAY_EXEC, EACCES); then the child must exist
   * (ENOENT) unless it is the last one. Crossing onto a mount switches to
   * the mount's root and idmap. A `null` task skips permission checks.
   */
  walk(task: Task | null, path: string, t: Trace): WalkResult {
    const parts = normalizePath(path)
      .split('/')
      .filter((s) => s !== '');
    let mount = this.mounts.get('/')!;
    let inode: Inode = mount.root;
    if (parts.length === 0) return { ok: true, at: { mount, inode, parentMount: mount, parent: inode, name: '' } };
    let abs = '';
    for (let i = 0; i < parts.length; i++) {
      const name = parts[i];
      if (!inode.isDir) return { ok: false, errno: 'ENOTDIR', rule: 'link_path_walk', why: `${abs || '/'} is not a directory` };
      if (task) {
        const c = inodePermission(task.cred, mount, inode, MAY_EXEC, t);
        if (!c.ok)
          return {
            ok: false,
            errno: c.errno ?? 'EACCES',
            rule: 'may_lookup',
            why: `cannot search ${abs || '/'} (${describeIdmap(mount)}): ${c.why}`,
          };
      }
      const child = inode.children!.get(name);
      const last = i === parts.length - 1;
      if (!child) {
        if (last) return { ok: true, at: { mount, inode: undefined, parentMount: mount, parent: inode, name } };
        return { ok: false, errno: 'ENOENT', rule: 'walk_component', why: `${abs}/${name} does not exist` };
      }
      if (child.type === 'symlink' && !last) {
        throw new FsidmapError('ERR_VFS_SYMLINK', `${abs}/${name} is a symlink; the model does not follow symlinks inside paths`, {
          hint: 'give the path without symlinks',
        });
      }
      abs += '/' + name;
      const parentMount = mount,
        parent = inode;
      const m = this.mounts.get(abs);
      if (m) {
        mount = m;
        inode = m.root;
      } else inode = child;
      if (last) return { ok: true, at: { mount, inode, parentMount, parent, name } };
    }
    throw new Error('unreachable');
  }

  private kid(ns: UserNamespace, kind: IdKind, raw: number, what: string): number {
    const k = ns.map(kind).mapIdDown(raw);
    if (k === undefined) {
      throw new FsidmapError(
        'ERR_VFS_UNMAPPED',
        `${what}: on-disk ${kind} ${raw} cannot be stored on a filesystem whose s_user_ns is ${ns.name} (not in its ${kind}_map)`,
      );
    }
    return k;
  }
}

/** Absolute, no empty, "." or ".." components; "/" for the root. */
export function normalizePath(path: string): string {
  if (!path.startsWith('/')) throw new FsidmapError('ERR_VFS_PATH', `path "${path}" must be absolute`, { hint: 'start paths with /' });
  const parts = path.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) throw new FsidmapError('ERR_VFS_PATH', `path "${path}" contains ".."; the model takes paths without it`);
  return '/' + parts.join('/');
}
