/**
 * Generated cases for the differential tests of the userns/vfs model
 * against the real kernel: a namespace (or the host), optionally an
 * idmapped mount, a process with chosen ids, groups, fs ids and
 * capabilities, a small tree with chosen owners, modes and ACLs, and a list
 * of file operations. The same case runs through the C stage
 * test/native/userns-ops (real kernel) and through the model; both answer
 * in the stage's line format ("ok", "ok UID GID MODE" for stat, or an errno).
 */
import {
  CAP_NUMBER,
  type Cap,
  type FsidSemantics,
  UsernsSystem,
  capsetEffective,
  setfsid,
  setgroups,
  setKeepCaps,
  setresid,
} from '../../src/userns/index.js';
import {
  type ExtendedAcl,
  Vfs,
  chmod,
  chown,
  create,
  makeIdmappedMount,
  open,
  remove,
  stat,
  utimes,
  type Inode,
} from '../../src/vfs/index.js';

export interface KAcl {
  users: Array<[number, number]>;
  groups: Array<[number, number]>;
  groupObj: number;
  mask: number;
}
export interface KEntry {
  path: string;
  type: 'file' | 'dir';
  uid: number;
  gid: number;
  mode: number;
  acl: KAcl | null;
}
export type KOp =
  | { op: 'stat'; path: string }
  | { op: 'open'; path: string; access: 'r' | 'w' | 'rw' | 'x' }
  | { op: 'creat' | 'mkdir'; path: string; mode: number }
  | { op: 'chown'; path: string; uid: number; gid: number }
  | { op: 'chmod'; path: string; mode: number }
  | { op: 'utimes'; path: string; how: 'now' | 'set' }
  | { op: 'unlink' | 'rmdir'; path: string };

export interface KCase {
  readonly label: string;
  readonly ns: { uid: string; gid: string } | null;
  readonly mount: { uid: string; gid: string } | null;
  readonly proc: { uid: number; gid: number; groups: number[]; fsuid: number; fsgid: number; caps: Cap[] | null; rootFirst: boolean };
  readonly root: { uid: number; gid: number; mode: number };
  readonly entries: KEntry[];
  readonly ops: KOp[];
}

import { rng } from '../support/rng.js';

export { rng };

/** ids: the process's ids inside its namespace; disk: on-disk owners that line up with them. */
const CONFIGS: Array<{ label: string; ns: string | null; mount: string | null; ids: number[]; disk: number[] }> = [
  { label: 'host', ns: null, mount: null, ids: [0, 5, 1000, 100000, 100005, 300000, 300005], disk: [0, 5, 1000, 100000, 100005, 300005] },
  {
    label: 'host+idmap',
    ns: null,
    mount: '300000:100000:65536',
    ids: [0, 1000, 100000, 100005, 300005],
    disk: [300000, 300005, 301000, 0],
  },
  { label: 'ns', ns: '0:100000:65536', mount: null, ids: [0, 5, 1000, 1001], disk: [100000, 100005, 101000, 101001] },
  {
    label: 'ns+idmap',
    ns: '0:100000:65536',
    mount: '300000:100000:65536',
    ids: [0, 5, 1000, 1001],
    disk: [300000, 300005, 301000, 301001],
  },
  {
    label: 'ns+partial-idmap',
    ns: '0:100000:65536',
    mount: '300000:100000:1000,301000:101000:5',
    ids: [0, 5, 1000, 1001],
    disk: [300000, 300005, 301000, 301003, 301007],
  },
  {
    label: 'ns-multi',
    ns: '0:100000:1000,1000:1000:1,1001:101001:64535',
    mount: null,
    ids: [0, 5, 1000, 1001],
    disk: [100000, 100005, 1000, 101001],
  },
  {
    label: 'ns-multi+idmap',
    ns: '0:100000:1000,1000:1000:1,1001:101001:64535',
    mount: '300000:100000:1000,0:1000:1',
    ids: [0, 5, 1000],
    disk: [300000, 300005, 0],
  },
  { label: 'ns2+idmap', ns: '0:200000:65536', mount: '300000:200000:65536', ids: [0, 5, 1000], disk: [300000, 300005, 301000] },
];

const OWNERS = [0, 5, 1000, 1001, 100000, 100005, 101000, 101001, 200000, 200005, 300000, 300005, 301000, 301003, 310000];
const DIR_MODES = [
  0o755, 0o755, 0o777, 0o777, 0o1777, 0o1777, 0o2775, 0o2777, 0o711, 0o775, 0o700, 0o770, 0o750, 0o1770, 0o2770, 0o555, 0o300,
];
const FILE_MODES = [
  0o644, 0o600, 0o640, 0o660, 0o666, 0o604, 0o755, 0o4755, 0o2755, 0o2745, 0o700, 0o000, 0o111, 0o060, 0o006, 0o4644, 0o2644,
];
const NEW_MODES = [0o644, 0o600, 0o755, 0o2755, 0o4755, 0o1777, 0o2775, 0o777];
const FS_CAPS: Cap[] = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID'];

export function generateCases(seed: number, count: number, opsPerCase = 24): KCase[] {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)];
  const chance = (p: number) => r() < p;
  const cases: KCase[] = [];
  for (let n = 0; n < count; n++) {
    const cfg = CONFIGS[n % CONFIGS.length];
    const owner = () => (chance(0.55) ? pick(cfg.disk) : pick(OWNERS));
    const entries: KEntry[] = [];
    const dirs = ['', 'd0', 'd1', 'd0/e'];
    for (const d of dirs.slice(1)) entries.push({ path: d, type: 'dir', uid: owner(), gid: owner(), mode: pick(DIR_MODES), acl: null });
    for (let i = 0; i < 7; i++) {
      const d = pick(dirs);
      entries.push({ path: (d ? d + '/' : '') + `f${i}`, type: 'file', uid: owner(), gid: owner(), mode: pick(FILE_MODES), acl: null });
    }
    for (const e of entries) {
      if (chance(0.2)) {
        const perm = () => Math.floor(r() * 8);
        const acl: KAcl = {
          users: [[pick(OWNERS), perm()]],
          groups: chance(0.5) ? [[pick(OWNERS), perm()]] : [],
          groupObj: perm(),
          mask: perm(),
        };
        e.acl = acl;
        e.mode = (e.mode & ~0o070) | (acl.mask << 3);
      }
    }
    // Touch dirs so that the test process can usually get in: the root is searchable in most cases.
    const root = { uid: owner(), gid: owner(), mode: chance(0.8) ? pick([0o755, 0o777, 0o1777, 0o775, 0o2775]) : pick(DIR_MODES) };
    const pid = () => pick(cfg.ids);
    const caps = chance(0.4) ? FS_CAPS.filter(() => chance(0.5)) : null;
    const proc = {
      uid: pid(),
      gid: pid(),
      groups: chance(0.5) ? [pid()] : [],
      fsuid: chance(0.2) ? pid() : -1,
      fsgid: chance(0.2) ? pid() : -1,
      caps,
      rootFirst: chance(0.5),
    };
    const paths = [...entries.map((e) => e.path), 'n0', 'd0/n1', 'd1/n2', 'd0/e/n3', 'nd', 'd1/nd2', 'missing/x'];
    const filePaths = entries.filter((e) => e.type === 'file').map((e) => e.path);
    const idArg = () => (chance(0.2) ? -1 : chance(0.1) ? 70000 : chance(0.3) ? pick(OWNERS) : pid());
    const ops: KOp[] = [];
    for (let i = 0; i < opsPerCase; i++) {
      const k = r();
      if (k < 0.14) ops.push({ op: 'stat', path: pick(paths) });
      else if (k < 0.3) ops.push({ op: 'open', path: pick(chance(0.8) ? filePaths : paths), access: pick(['r', 'w', 'rw'] as const) });
      // The stage checks exec with faccessat(X_OK, AT_EACCESS), which on a directory means search: files only.
      else if (k < 0.36) ops.push({ op: 'open', path: pick(filePaths), access: 'x' });
      else if (k < 0.48)
        ops.push({
          op: chance(0.6) ? 'creat' : 'mkdir',
          path: pick(['n0', 'd0/n1', 'd1/n2', 'd0/e/n3', 'nd', 'd1/nd2', 'd1/n2', 'f9']),
          mode: pick(NEW_MODES),
        });
      else if (k < 0.66) ops.push({ op: 'chown', path: pick(paths), uid: idArg(), gid: idArg() });
      else if (k < 0.78) ops.push({ op: 'chmod', path: pick(paths), mode: pick([...FILE_MODES, ...DIR_MODES]) });
      else if (k < 0.88) ops.push({ op: 'utimes', path: pick(paths), how: chance(0.5) ? 'now' : 'set' });
      else ops.push({ op: chance(0.7) ? 'unlink' : 'rmdir', path: pick(paths) });
    }
    cases.push({
      label: `${cfg.label}#${n}`,
      ns: cfg.ns ? { uid: cfg.ns, gid: cfg.ns } : null,
      mount: cfg.mount ? { uid: cfg.mount, gid: cfg.mount } : null,
      proc,
      root,
      entries,
      ops,
    });
  }
  return cases;
}

function specLines(spec: string): string {
  return (
    spec
      .split(',')
      .map((p) => p.split(':').join(' '))
      .join('\n') + '\n'
  );
}

export function capMask(caps: readonly Cap[]): string {
  let m = 0n;
  for (const c of caps) m |= 1n << BigInt(CAP_NUMBER[c]);
  return m.toString(16);
}

/** The C stage's input for one case; `root` is the real tree directory. */
export function caseText(c: KCase, root: string): string {
  const p = c.proc;
  const head = [
    'case',
    root,
    c.ns?.uid ?? '-',
    c.ns?.gid ?? '-',
    c.mount?.uid ?? '-',
    c.mount?.gid ?? '-',
    p.uid,
    p.gid,
    p.groups.length ? p.groups.join(',') : '-',
    p.fsuid,
    p.fsgid,
    p.caps ? capMask(p.caps) : 'default',
    p.rootFirst ? 1 : 0,
  ].join(' ');
  const ops = c.ops.map((o) => {
    switch (o.op) {
      case 'stat':
      case 'unlink':
      case 'rmdir':
        return `op ${o.op} ${o.path}`;
      case 'open':
        return `op open ${o.path} ${o.access}`;
      case 'creat':
      case 'mkdir':
        return `op ${o.op} ${o.path} ${o.mode.toString(8)}`;
      case 'chown':
        return `op chown ${o.path} ${o.uid} ${o.gid}`;
      case 'chmod':
        return `op chmod ${o.path} ${o.mode.toString(8)}`;
      case 'utimes':
        return `op utimes ${o.path} ${o.how}`;
    }
  });
  return [head, ...ops, 'end'].join('\n') + '\n';
}

export interface TreeState {
  [path: string]: string;
}

export interface ModelRun {
  results: string[];
  reasons: string[];
  tree: TreeState;
}

/** Runs a case through the model, mirroring the C stage's setup syscalls one for one. */
export function runModel(c: KCase, semantics: FsidSemantics): ModelRun {
  const sys = new UsernsSystem(semantics);
  const host = sys.spawn('host');
  const vfs = new Vfs(sys.init);
  vfs.put('/t', { type: 'dir', ...c.root });
  for (const e of c.entries) {
    const acl: ExtendedAcl | null = e.acl
      ? {
          users: e.acl.users.map(([id, perm]) => ({ id, perm })),
          groups: e.acl.groups.map(([id, perm]) => ({ id, perm })),
          groupObj: e.acl.groupObj,
        }
      : null;
    vfs.put('/t/' + e.path, { type: e.type, uid: e.uid, gid: e.gid, mode: e.mode, acl });
  }
  let base = '/t';
  if (c.mount) {
    vfs.put('/m', { type: 'dir', uid: 0, gid: 0, mode: 0o755 });
    const h = sys.fork(host, 'holder');
    const hns = must(sys.unshare(h, 'holder-ns')).ns;
    must(sys.writeMap(host, hns, 'uid', specLines(c.mount.uid)));
    must(sys.writeMap(host, hns, 'gid', specLines(c.mount.gid)));
    must(makeIdmappedMount(vfs, host, '/t', '/m', hns));
    base = '/m';
  }
  const p = sys.fork(host, 'proc');
  if (c.ns) {
    const ns = must(sys.unshare(p, 'ns')).ns;
    must(sys.writeMap(host, ns, 'uid', specLines(c.ns.uid)));
    must(sys.writeMap(host, ns, 'gid', specLines(c.ns.gid)));
  }
  const pr = c.proc;
  if (pr.rootFirst) {
    p.cred = must(setresid(p.cred, 'gid', 0, 0, 0));
    p.cred = must(setresid(p.cred, 'uid', 0, 0, 0));
  }
  p.cred = must(setgroups(p.cred, pr.groups));
  if (pr.caps) p.cred = setKeepCaps(p.cred, true);
  p.cred = must(setresid(p.cred, 'gid', pr.gid, pr.gid, pr.gid));
  p.cred = must(setresid(p.cred, 'uid', pr.uid, pr.uid, pr.uid));
  if (pr.fsgid >= 0) p.cred = must(setfsid(p.cred, 'gid', pr.fsgid));
  if (pr.fsuid >= 0) p.cred = must(setfsid(p.cred, 'uid', pr.fsuid));
  if (pr.caps) p.cred = must(capsetEffective(p.cred, new Set(pr.caps)));
  p.umask = 0o022;

  const results: string[] = [],
    reasons: string[] = [];
  for (const o of c.ops) {
    const path = `${base}/${o.path}`;
    let out: { ok: boolean; errno: string | null; reason: string; value?: unknown };
    switch (o.op) {
      case 'stat': {
        const s = stat(vfs, p, path);
        out = s;
        if (s.ok) {
          results.push(`ok ${s.value!.uid} ${s.value!.gid} ${s.value!.mode.toString(8)}`);
          reasons.push(s.reason);
          continue;
        }
        break;
      }
      case 'open':
        out = open(vfs, p, path, ({ r: 'read', w: 'write', rw: 'rdwr', x: 'exec' } as const)[o.access]);
        break;
      case 'creat':
        out = create(vfs, p, path, 'file', o.mode);
        break;
      case 'mkdir':
        out = create(vfs, p, path, 'dir', o.mode);
        break;
      case 'chown':
        out = chown(vfs, p, path, o.uid, o.gid);
        break;
      case 'chmod':
        out = chmod(vfs, p, path, o.mode);
        break;
      case 'utimes':
        out = utimes(vfs, p, path, o.how);
        break;
      case 'unlink':
        out = remove(vfs, p, path, false);
        break;
      case 'rmdir':
        out = remove(vfs, p, path, true);
        break;
    }
    results.push(out.ok ? 'ok' : out.errno!);
    reasons.push(out.reason);
  }
  return { results, reasons, tree: modelTree(vfs.lookupNoPerm('/t').inode!) };
}

function must<T>(o: { ok: boolean; value?: T; reason: string }): T {
  if (!o.ok) throw new Error(`model setup failed: ${o.reason}`);
  return o.value as T;
}

/** "type uid:gid mode" for every entry below the tree root, by relative path (the root itself as "."). */
export function modelTree(root: Inode): TreeState {
  const out: TreeState = {};
  const walk = (n: Inode, rel: string) => {
    out[rel || '.'] = `${n.type} ${n.diskUid}:${n.diskGid} ${n.mode.toString(8)}`;
    for (const [name, child] of n.children ?? []) walk(child, rel ? `${rel}/${name}` : name);
  };
  walk(root, '');
  return out;
}
