import { execFileSync } from 'node:child_process';
import { linkSync, lchownSync, chmodSync, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACL_TAG, ACL_UNDEFINED_ID, decodeAcl, decodeCap, encodeAcl, encodeCap } from '../../src/ownership/xattr-codec.js';
import { getXattr, setXattr } from '../../src/kernel/file/xattr.js';
import { rng } from '../support/rng.js';

/**
 * Test trees with the ownership features a shift must handle: many owners,
 * setuid/setgid files (also setgid without group-exec), POSIX ACLs (access and
 * default, some set with setfacl, most as raw xattrs), file capabilities (v2
 * with setcap, v3 with `setcap -n ROOTID`), hard links across directories,
 * symlinks with their own owners, fifos and device nodes. Deterministic for a
 * given seed. Root only (chown, mknod, security.capability).
 */
export interface FixtureOptions {
  readonly files: number;
  /** On-disk id of the image's root: every id is base + a small id. */
  readonly base: number;
  readonly seed?: number;
  /** Root ids (small, added to base) for v3 capabilities; default [0]. */
  readonly capRootIds?: readonly number[];
  /** ACLs with one named user and one named group only (fuidshift shifts only the first of several). */
  readonly oneNamedAclEntry?: boolean;
  /** Extra uids (absolute) given to a few files, e.g. ids a map does not cover. */
  readonly strayUids?: readonly number[];
}

const SMALL_IDS = [
  0, 0, 0, 0, 1, 2, 3, 5, 7, 8, 33, 100, 101, 102, 106, 999, 1000, 1001, 1002, 1003, 2000, 4242, 30000, 65533, 65534, 65535,
];

export function makeFixture(root: string, o: FixtureOptions): void {
  const rnd = rng(o.seed ?? 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const id = () => o.base + pick(SMALL_IDS);
  mkdirSync(root, { recursive: true });
  lchownSync(root, o.base, o.base);
  const dirs = [root];
  const files: string[] = [];
  const ndirs = Math.max(1, Math.floor(o.files / 40));
  for (let i = 0; i < ndirs; i++) {
    const d = join(pick(dirs), `d${i}`);
    mkdirSync(d);
    lchownSync(d, id(), id());
    if (i % 17 === 3) chmodSync(d, 0o2775); // setgid directory: chown keeps it
    if (i % 13 === 5) chmodSync(d, 0o1777);
    dirs.push(d);
  }
  const fifos: string[] = [];
  for (let i = 0; i < o.files; i++) {
    const d = pick(dirs);
    const r = rnd();
    const p = join(d, `f${i}${i % 97 === 0 ? '-\u00e9t\u00e9' : ''}`);
    if (r < 0.02 && files.length > 0) {
      linkSync(pick(files), p);
      continue;
    }
    if (r < 0.05) {
      symlinkSync(i % 2 ? 'target-that-does-not-exist' : '../x', p);
      lchownSync(p, id(), id());
      continue;
    }
    if (r < 0.052) {
      fifos.push(p);
      continue;
    }
    writeFileSync(p, i % 5 === 0 ? `data ${i}\n` : '');
    lchownSync(p, id(), id());
    const m = r < 0.06 ? 0o4755 : r < 0.07 ? 0o2755 : r < 0.075 ? 0o2644 : r < 0.08 ? 0o6750 : r < 0.5 ? 0o644 : 0o755;
    chmodSync(p, m);
    files.push(p);
  }
  if (fifos.length > 0) {
    execFileSync('mkfifo', fifos);
    for (const f of fifos) lchownSync(f, id(), id());
  }
  for (let i = 0; i < 3; i++) {
    const p = join(pick(dirs), `dev${i}`);
    execFileSync('mknod', [p, i === 2 ? 'b' : 'c', '1', String(3 + i)]);
    lchownSync(p, id(), id());
  }
  // ACLs: a few with setfacl (the real tool), more as raw xattrs (fast).
  const aclTargets = files.filter((_, i) => i % 50 === 7);
  for (const [k, f] of aclTargets.entries()) {
    const u1 = o.base + 1000 + (k % 3),
      u2 = o.base + 2000,
      g1 = o.base + 100 + (k % 2);
    const users: Array<[number, number, number]> = o.oneNamedAclEntry
      ? [[ACL_TAG.USER, 7, u1]]
      : [
          [ACL_TAG.USER, 7, u1],
          [ACL_TAG.USER, 4, u2],
        ];
    if (k < 4) execFileSync('setfacl', ['-m', `u:${u1}:rwx,${o.oneNamedAclEntry ? '' : `u:${u2}:r,`}g:${g1}:rx`, f]);
    else setXattr(f, 'system.posix_acl_access', acl(users, [[ACL_TAG.GROUP, 5, g1]]));
  }
  for (const [k, d] of dirs.filter((_, i) => i % 9 === 2).entries()) {
    if (k < 2) execFileSync('setfacl', ['-d', '-m', `u:${o.base + 1001}:rx,g:${o.base + 33}:rwx`, d]);
    else setXattr(d, 'system.posix_acl_default', acl([[ACL_TAG.USER, 5, o.base + 1001]], [[ACL_TAG.GROUP, 7, o.base + 33]]));
  }
  // Capabilities last: chown removes them.
  const capTargets = files.filter((_, i) => i % 60 === 11).slice(0, 12);
  const roots = o.capRootIds ?? [0];
  for (const [k, f] of capTargets.entries()) {
    if (k % 2 === 0) execFileSync('setcap', ['cap_net_raw,cap_net_bind_service+ep', f]);
    else {
      const rootId = o.base + roots[(k >> 1) % roots.length];
      // setcap -n takes only positive root ids: 0 is what a v2 capability means.
      execFileSync('setcap', rootId === 0 ? ['cap_net_admin+ep', f] : ['-n', String(rootId), 'cap_net_admin+ep', f]);
    }
  }
  for (const [k, u] of (o.strayUids ?? []).entries()) lchownSync(files[(k * 7) % files.length], u, o.base);
}

function acl(users: Array<[number, number, number]>, groups: Array<[number, number, number]>): Uint8Array {
  return encodeAcl([
    { tag: ACL_TAG.USER_OBJ, perm: 7, id: ACL_UNDEFINED_ID },
    ...users.map(([tag, perm, id]) => ({ tag, perm, id })),
    { tag: ACL_TAG.GROUP_OBJ, perm: 5, id: ACL_UNDEFINED_ID },
    ...groups.map(([tag, perm, id]) => ({ tag, perm, id })),
    { tag: ACL_TAG.MASK, perm: 7, id: ACL_UNDEFINED_ID },
    { tag: ACL_TAG.OTHER, perm: 4, id: ACL_UNDEFINED_ID },
  ]);
}

export interface Snap {
  readonly type: string;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly nlink: number;
  /** First path (in sorted order) of this inode: hard-link structure. */
  readonly linkGroup: string;
  readonly target: string | null;
  readonly rdev: number;
  readonly aclAccess: string | null;
  readonly aclDefault: string | null;
  readonly cap: string | null;
}

/** Every entry of a tree by relative path ('' = root), with owners, modes and id-bearing xattrs as hex. */
export function snapshot(root: string): Map<string, Snap> {
  const out = new Map<string, Snap>();
  const byIno = new Map<number, string>();
  const rels: string[] = [''];
  const stack = [''];
  while (stack.length) {
    const rel = stack.pop() as string;
    for (const d of readdirSync(join(root, rel), { withFileTypes: true })) {
      const r = rel === '' ? d.name : `${rel}/${d.name}`;
      rels.push(r);
      if (d.isDirectory() && !isMountPoint(root, r)) stack.push(r);
    }
  }
  rels.sort();
  for (const rel of rels) {
    const p = rel === '' ? root : join(root, rel);
    const s = lstatSync(p);
    const type = s.isDirectory()
      ? 'dir'
      : s.isSymbolicLink()
        ? 'symlink'
        : s.isFile()
          ? 'file'
          : s.isFIFO()
            ? 'fifo'
            : s.isCharacterDevice()
              ? 'char'
              : s.isBlockDevice()
                ? 'block'
                : 'other';
    if (!byIno.has(s.ino)) byIno.set(s.ino, rel);
    const x = (name: string) => (type === 'symlink' ? null : (getXattr(p, name)?.toString('hex') ?? null));
    out.set(rel, {
      type,
      uid: s.uid,
      gid: s.gid,
      mode: s.mode & 0o7777,
      nlink: s.nlink,
      linkGroup: byIno.get(s.ino) as string,
      target: type === 'symlink' ? readlinkSync(p) : null,
      rdev: s.rdev,
      aclAccess: x('system.posix_acl_access'),
      aclDefault: x('system.posix_acl_default'),
      cap: x('security.capability'),
    });
  }
  return out;
}

function isMountPoint(root: string, rel: string): boolean {
  return lstatSync(join(root, rel)).dev !== lstatSync(root).dev;
}

/** Entries whose snapshots differ, as readable lines (empty when equal). */
export function diffSnapshots(a: Map<string, Snap>, b: Map<string, Snap>, limit = 20): string[] {
  const out: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = JSON.stringify(a.get(k)),
      y = JSON.stringify(b.get(k));
    if (x !== y) out.push(`${k || '.'}: ${x} != ${y}`);
    if (out.length >= limit) break;
  }
  return out;
}

/**
 * What a shift through f must produce, computed from a snapshot alone: owners,
 * ACL qualifiers (kept in libacl order) and capability root ids moved (a v2
 * value's root being 0), a root id landing on 0 shown as v2 (as the kernel
 * shows it), everything else equal.
 */
export function expectedShift(before: Map<string, Snap>, f: (id: number) => number): Map<string, Snap> {
  const out = new Map<string, Snap>();
  const acl = (hex: string | null) => {
    if (hex === null) return null;
    const e = decodeAcl(Buffer.from(hex, 'hex')).map((x) =>
      x.tag === ACL_TAG.USER || x.tag === ACL_TAG.GROUP ? { ...x, id: f(x.id) } : x,
    );
    e.sort((a, b) => a.tag - b.tag || a.id - b.id);
    return Buffer.from(encodeAcl(e)).toString('hex');
  };
  const cap = (hex: string | null) => {
    if (hex === null) return null;
    const c = decodeCap(Buffer.from(hex, 'hex'));
    // A v2 value's root is 0: it is scoped to f(0) as the kernel scopes a v2 write inside a namespace.
    const r = f(c.rootId ?? 0);
    if (r === (c.rootId ?? 0)) return hex;
    if (r === 0) return Buffer.from(encodeCap({ ...c, revision: 2, rootId: null })).toString('hex');
    return Buffer.from(encodeCap({ ...c, revision: 3, flags: c.flags & 1, rootId: r })).toString('hex');
  };
  for (const [k, s] of before)
    out.set(k, { ...s, uid: f(s.uid), gid: f(s.gid), aclAccess: acl(s.aclAccess), aclDefault: acl(s.aclDefault), cap: cap(s.cap) });
  return out;
}
