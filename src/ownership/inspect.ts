import type { EntryType, ImageEntry } from './entry.js';

/**
 * What ownership an image holds, from its entries alone, whether they come
 * from a directory tree or a tar archive: the ids in use as ranges, the
 * probable base of the image's range (the on-disk id of its root, which an
 * fsid map or an idmapped mount must point at), ids outside that range,
 * setuid/setgid files, ACL entries, file capabilities and hard links. Pure:
 * it consumes entries and reads nothing else.
 */

/** Consecutive ids [start, end) and how many entries name one of them. */
export interface IdRange {
  readonly start: number;
  readonly end: number;
  readonly entries: number;
}

export interface Examples {
  readonly count: number;
  /** The first few paths. */
  readonly examples: string[];
}

export interface ImageBase {
  readonly uid: number;
  readonly gid: number;
  /** The range the report measures against: [base, base + size). */
  readonly size: number;
  readonly reason: 'root-owner' | 'most-entries' | 'empty';
  /** Kernel map lines (uid, gid) that make the image's root appear as 0: "0 BASE SIZE". */
  readonly uidMap: string;
  readonly gidMap: string;
}

export interface InspectReport {
  readonly entries: number;
  readonly types: Record<EntryType, number>;
  /** Owners: uids and gids of the entries themselves. */
  readonly uids: IdRange[];
  readonly gids: IdRange[];
  readonly base: ImageBase;
  /** Every id the image names (owners, ACL entries, capability root ids) outside the base range. */
  readonly outside: { readonly uids: IdRange[]; readonly gids: IdRange[] };
  readonly setuid: Examples;
  readonly setgid: Examples;
  readonly acl: Examples & { readonly uids: IdRange[]; readonly gids: IdRange[] };
  readonly capabilities: Examples & { readonly namespaced: number; readonly rootIds: IdRange[] };
  /** Inodes with more than one name (trees), or hard-link entries (tar). */
  readonly hardLinks: Examples & { readonly extraNames: number };
}

const EXAMPLES = 10;
export const IMAGE_RANGE = 65536;
const ENTRY_TYPES: EntryType[] = ['file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo', 'socket', 'other'];

class Sample {
  count = 0;
  readonly examples: string[] = [];
  add(path: string): void {
    this.count++;
    if (this.examples.length < EXAMPLES) this.examples.push(path);
  }
  toJSON(): Examples {
    return { count: this.count, examples: this.examples };
  }
}

class Histogram {
  private readonly counts = new Map<number, number>();
  add(id: number, n = 1): void {
    this.counts.set(id, (this.counts.get(id) ?? 0) + n);
  }
  ids(): IterableIterator<[number, number]> {
    return this.counts.entries();
  }
  ranges(filter: (id: number) => boolean = () => true): IdRange[] {
    const ids = [...this.counts.keys()].filter(filter).sort((a, b) => a - b);
    const out: Array<{ start: number; end: number; entries: number }> = [];
    for (const id of ids) {
      const last = out[out.length - 1];
      const n = this.counts.get(id) as number;
      if (last && last.end === id) {
        last.end++;
        last.entries += n;
      } else out.push({ start: id, end: id + 1, entries: n });
    }
    return out;
  }
}

export async function inspectEntries(entries: AsyncIterable<ImageEntry>): Promise<InspectReport> {
  const types = Object.fromEntries(ENTRY_TYPES.map((t) => [t, 0])) as Record<EntryType, number>;
  const uids = new Histogram(),
    gids = new Histogram();
  const aclUids = new Histogram(),
    aclGids = new Histogram(),
    capRoots = new Histogram();
  const setuid = new Sample(),
    setgid = new Sample(),
    acl = new Sample(),
    caps = new Sample(),
    links = new Sample();
  const inodes = new Map<string, number>();
  let count = 0,
    namespaced = 0,
    extraNames = 0;
  let root: ImageEntry | null = null;
  for await (const e of entries) {
    count++;
    types[e.type]++;
    uids.add(e.uid);
    gids.add(e.gid);
    if (root === null && isRootPath(e.path)) root = e;
    const path = e.path === '' ? '.' : e.path;
    // Hard links: owners are counted per name, everything about the inode once.
    if (e.type === 'hardlink') {
      links.add(path);
      extraNames++;
      continue;
    }
    if (e.type !== 'dir' && (e.nlink ?? 1) > 1 && e.ino !== undefined) {
      const key = `${e.dev ?? 0}:${e.ino}`;
      const seen = inodes.get(key) ?? 0;
      inodes.set(key, seen + 1);
      if (seen > 0) {
        extraNames++;
        continue;
      }
      links.add(path);
    }
    if (e.type !== 'dir' && e.type !== 'symlink' && e.mode & 0o4000) setuid.add(path);
    if (e.type !== 'dir' && e.type !== 'symlink' && e.mode & 0o2000) setgid.add(path);
    if ((e.aclUids?.length ?? 0) + (e.aclGids?.length ?? 0) > 0) {
      acl.add(path);
      e.aclUids?.forEach((id) => aclUids.add(id));
      e.aclGids?.forEach((id) => aclGids.add(id));
    }
    if (e.hasCapability) {
      caps.add(path);
      if (e.capRootId !== undefined && e.capRootId !== null) {
        namespaced++;
        capRoots.add(e.capRootId);
      }
    }
  }
  const base = probableBase(root, uids, gids);
  const inUid = (id: number) => id >= base.uid && id < base.uid + base.size;
  const inGid = (id: number) => id >= base.gid && id < base.gid + base.size;
  const allUids = new Histogram(),
    allGids = new Histogram();
  for (const h of [uids, aclUids, capRoots]) for (const [id, n] of h.ids()) allUids.add(id, n);
  for (const h of [gids, aclGids]) for (const [id, n] of h.ids()) allGids.add(id, n);
  return {
    entries: count,
    types,
    uids: uids.ranges(),
    gids: gids.ranges(),
    base,
    outside: { uids: allUids.ranges((id) => !inUid(id)), gids: allGids.ranges((id) => !inGid(id)) },
    setuid: setuid.toJSON(),
    setgid: setgid.toJSON(),
    acl: { ...acl.toJSON(), uids: aclUids.ranges(), gids: aclGids.ranges() },
    capabilities: { ...caps.toJSON(), namespaced, rootIds: capRoots.ranges() },
    hardLinks: { ...links.toJSON(), extraNames },
  };
}

function isRootPath(p: string): boolean {
  return p === '' || p === '.' || p === './' || p === '/';
}

/**
 * The image's base: the on-disk owner of its root directory, which is the
 * container's root (id 0) by construction; without a root entry (some tar
 * archives), the most common owner, which in a system image is root too.
 */
function probableBase(root: ImageEntry | null, uids: Histogram, gids: Histogram): ImageBase {
  const mostCommon = (h: Histogram) => {
    let best: [number, number] | null = null;
    for (const c of h.ids()) if (!best || c[1] > best[1] || (c[1] === best[1] && c[0] < best[0])) best = c;
    return best?.[0] ?? null;
  };
  let uid: number, gid: number, reason: ImageBase['reason'];
  if (root) {
    uid = root.uid;
    gid = root.gid;
    reason = 'root-owner';
  } else {
    const u = mostCommon(uids),
      g = mostCommon(gids);
    uid = u ?? 0;
    gid = g ?? 0;
    reason = u === null ? 'empty' : 'most-entries';
  }
  const size = (b: number) => Math.min(IMAGE_RANGE, 4294967295 - b);
  return { uid, gid, size: size(uid), reason, uidMap: `0 ${uid} ${size(uid)}`, gidMap: `0 ${gid} ${size(gid)}` };
}
