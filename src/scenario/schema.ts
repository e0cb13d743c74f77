import type { MapKind } from '../idmap/index.js';
import { type CapSet, parseCaps } from '../userns/caps.js';
import { FSID_SEMANTICS, type FsidSemantics } from '../userns/namespace.js';
import type { ExtendedAcl, InodeType, SuperblockKind } from '../vfs/inode.js';
import { JsonReader, parseJson } from './reader.js';

/**
 * A scenario: namespaces with their maps, processes, a tree with on-disk
 * owners and modes, mounts, and steps with expected results. The file
 * format is JSON; docs/userns.md has the reference. Names tie it together:
 * "host" is always host root in the initial namespace, "init" the initial
 * namespace.
 */
/** A write to one of the namespace's proc files, and who makes it ("self": the namespace's own holder process). */
export interface ProcWrite {
  readonly text: string;
  readonly writer: string;
}

export interface NamespaceSpec {
  readonly name: string;
  /** The process that unshares it (default "host"); the namespace is owned by its euid. */
  readonly creator: string;
  readonly maps: Partial<Record<MapKind, ProcWrite>>;
  readonly setgroups: ProcWrite | undefined;
}

export interface ProcessSpec {
  readonly name: string;
  /** The namespace it lives in (default "init"). */
  readonly ns: string;
  /** Fork from this process instead of the namespace's creator. */
  readonly from: string | undefined;
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[] | undefined;
  readonly fsuid: number | undefined;
  readonly fsgid: number | undefined;
  /** The effective set after the ids are set (kept through keepcaps); default: what set*id leaves. */
  readonly caps: CapSet | undefined;
  readonly umask: number;
}

export interface FilesystemSpec {
  readonly name: string;
  readonly kind: SuperblockKind;
  readonly mount: string;
  readonly userns: string;
  readonly root: { uid: number; gid: number; mode: number };
}

export interface EntrySpec {
  readonly path: string;
  readonly type: InodeType;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly acl: ExtendedAcl | null;
  readonly target: string | undefined;
}

export interface MountSpec {
  readonly path: string;
  readonly source: string;
  /** Namespace whose id maps the mount copies; none for a plain bind mount. */
  readonly idmap: string | undefined;
}

export type Expectation = {
  readonly result: string;
  readonly fields: Readonly<Record<string, number | string | null | readonly number[]>>;
};

export interface StepSpec {
  readonly op: StepOp;
  readonly as: string;
  readonly args: Readonly<Record<string, unknown>>;
  readonly expect: Expectation | undefined;
  readonly note: string | undefined;
  /** false: leave this step out of a sameResultsAs comparison. */
  readonly compare: boolean;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly semantics: FsidSemantics;
  readonly root: { uid: number; gid: number; mode: number };
  readonly namespaces: readonly NamespaceSpec[];
  readonly processes: readonly ProcessSpec[];
  readonly filesystems: readonly FilesystemSpec[];
  readonly tree: readonly EntrySpec[];
  readonly mounts: readonly MountSpec[];
  readonly steps: readonly StepSpec[];
  /** Another scenario file whose step results this one must reproduce (an idmapped-mount realization, say). */
  readonly sameResultsAs: string | undefined;
}

export const STEP_OPS = [
  'stat',
  'open',
  'create',
  'mkdir',
  'chown',
  'chmod',
  'utimes',
  'unlink',
  'rmdir',
  'disk',
  'kill',
  'ptrace',
  'unshare',
  'write-map',
  'write-setgroups',
  'fork',
  'setuid',
  'setgid',
  'setresuid',
  'setresgid',
  'setfsuid',
  'setfsgid',
  'setgroups',
  'ids',
  'idmap-mount',
] as const;
export type StepOp = (typeof STEP_OPS)[number];

/** The argument fields each op takes, with their kinds; validated here so the runner trusts them. */
const ARGS: Record<
  StepOp,
  Record<string, 'path' | 'id' | 'id-1' | 'ids' | 'mode' | 'name' | 'text' | 'access' | 'how' | 'map' | 'ptrace'>
> = {
  stat: { path: 'path' },
  open: { path: 'path', access: 'access' },
  create: { path: 'path', mode: 'mode' },
  mkdir: { path: 'path', mode: 'mode' },
  chown: { path: 'path', uid: 'id-1', gid: 'id-1' },
  chmod: { path: 'path', mode: 'mode' },
  utimes: { path: 'path', how: 'how' },
  unlink: { path: 'path' },
  rmdir: { path: 'path' },
  disk: { path: 'path' },
  kill: { target: 'name' },
  ptrace: { target: 'name', mode: 'ptrace' },
  unshare: { ns: 'name' },
  'write-map': { ns: 'name', map: 'map', text: 'text' },
  'write-setgroups': { ns: 'name', text: 'text' },
  fork: { name: 'name' },
  setuid: { id: 'id' },
  setgid: { id: 'id' },
  setresuid: { ids: 'ids' },
  setresgid: { ids: 'ids' },
  setfsuid: { id: 'id' },
  setfsgid: { id: 'id' },
  setgroups: { groups: 'ids' },
  ids: { in: 'name' },
  'idmap-mount': { source: 'path', path: 'path', ns: 'name' },
};
/** Arguments that may be left out, with what they mean then. */
const DEFAULTS: Partial<Record<StepOp, Record<string, unknown>>> = {
  create: { mode: 0o644 },
  mkdir: { mode: 0o755 },
  ids: { in: '' },
  chown: { uid: -1, gid: -1 },
  open: { access: 'read' },
  utimes: { how: 'now' },
  ptrace: { mode: 'realcreds' },
};

export function parseScenario(text: string, origin: string): Scenario {
  return readScenario(new JsonReader(parseJson(text, origin), origin));
}

export function readScenario(r: JsonReader): Scenario {
  r.object([
    'name',
    'description',
    'semantics',
    'root',
    'namespaces',
    'processes',
    'filesystems',
    'tree',
    'mounts',
    'steps',
    'sameResultsAs',
    '$comment',
  ]);
  const steps = r.field('steps').array().map(readStep);
  if (steps.length === 0) r.field('steps').fail('a scenario needs at least one step');
  return {
    name: r.field('name').string(),
    description: r.field('description').optString('') ?? '',
    semantics: r.has('semantics') ? r.field('semantics').oneOf(FSID_SEMANTICS) : 'v3',
    root: r.has('root') ? readOwner(r.field('root')) : { uid: 0, gid: 0, mode: 0o755 },
    namespaces: r.field('namespaces').optArray().map(readNamespace),
    processes: r.field('processes').optArray().map(readProcess),
    filesystems: r.field('filesystems').optArray().map(readFilesystem),
    tree: r.field('tree').optArray().map(readEntry),
    mounts: r
      .field('mounts')
      .optArray()
      .map((m) => {
        m.object(['path', 'source', 'idmap']);
        return { path: m.field('path').string(), source: m.field('source').string(), idmap: m.field('idmap').optString() };
      }),
    steps,
    sameResultsAs: r.field('sameResultsAs').optString(),
  };
}

function readOwner(r: JsonReader): { uid: number; gid: number; mode: number } {
  r.object(['uid', 'gid', 'mode']);
  return { uid: r.field('uid').id(), gid: r.field('gid').id(), mode: r.field('mode').mode() };
}

function readNamespace(r: JsonReader): NamespaceSpec {
  r.object(['name', 'creator', 'writer', 'uidmap', 'gidmap', 'fsuidmap', 'fsgidmap', 'setgroups']);
  const writer = r.field('writer').optString('host')!;
  // "0 100000 65536", or {"text": "0 1000 1", "writer": "alice"} when another process writes that file.
  const write = (f: JsonReader, allowed?: readonly string[]): ProcWrite => {
    if (typeof f.value === 'string') return { text: allowed ? f.oneOf(allowed) : f.string(), writer };
    f.object(['text', 'writer']);
    return { text: allowed ? f.field('text').oneOf(allowed) : f.field('text').string(), writer: f.field('writer').optString(writer)! };
  };
  const maps: Partial<Record<MapKind, ProcWrite>> = {};
  for (const k of ['uid', 'gid', 'fsuid', 'fsgid'] as const) if (r.has(`${k}map`)) maps[k] = write(r.field(`${k}map`));
  return {
    name: r.field('name').string(),
    creator: r.field('creator').optString('host')!,
    maps,
    setgroups: r.has('setgroups') ? write(r.field('setgroups'), ['allow', 'deny']) : undefined,
  };
}

function readProcess(r: JsonReader): ProcessSpec {
  r.object(['name', 'ns', 'from', 'uid', 'gid', 'groups', 'fsuid', 'fsgid', 'caps', 'umask']);
  const caps = r.field('caps');
  let capSet: CapSet | undefined;
  if (!caps.isMissing()) {
    try {
      capSet = parseCaps(Array.isArray(caps.value) ? caps.array().map((c) => c.string()) : caps.string());
    } catch (e) {
      caps.fail((e as Error).message, 'capabilities are names like CAP_CHOWN, or "all" / "none"');
    }
  }
  return {
    name: r.field('name').string(),
    ns: r.field('ns').optString('init')!,
    from: r.field('from').optString(),
    uid: r.has('uid') ? r.field('uid').id() : 0,
    gid: r.has('gid') ? r.field('gid').id() : 0,
    groups: r.has('groups') ? r.field('groups').ids() : undefined,
    fsuid: r.has('fsuid') ? r.field('fsuid').id() : undefined,
    fsgid: r.has('fsgid') ? r.field('fsgid').id() : undefined,
    caps: capSet,
    umask: r.has('umask') ? r.field('umask').mode() : 0o022,
  };
}

function readFilesystem(r: JsonReader): FilesystemSpec {
  r.object(['name', 'kind', 'mount', 'userns', 'root']);
  return {
    name: r.field('name').string(),
    kind: r.field('kind').oneOf(['ordinary', 'userns-visible'] as const),
    mount: r.field('mount').string(),
    userns: r.field('userns').optString('init')!,
    root: r.has('root') ? readOwner(r.field('root')) : { uid: 0, gid: 0, mode: 0o555 },
  };
}

function readEntry(r: JsonReader): EntrySpec {
  r.object(['path', 'type', 'uid', 'gid', 'mode', 'acl', 'target']);
  const type = r.has('type') ? r.field('type').oneOf(['file', 'dir', 'symlink'] as const) : 'file';
  let acl: ExtendedAcl | null = null;
  if (r.has('acl')) {
    const a = r.field('acl').object(['users', 'groups', 'groupObj']);
    const entries = (x: JsonReader) =>
      x.optArray().map((e) => {
        e.object(['id', 'perm']);
        const perm = e.field('perm');
        const p =
          typeof perm.value === 'string' && /^[r-][w-][x-]$/.test(perm.value) ? perm.value : perm.fail('expected a permission like "rw-"');
        return { id: e.field('id').id(), perm: (p[0] === 'r' ? 4 : 0) | (p[1] === 'w' ? 2 : 0) | (p[2] === 'x' ? 1 : 0) };
      });
    const go = a.field('groupObj');
    const g = go.isMissing() ? undefined : go.string();
    if (g !== undefined && !/^[r-][w-][x-]$/.test(g)) go.fail('expected a permission like "r-x"');
    acl = {
      users: entries(a.field('users')),
      groups: entries(a.field('groups')),
      groupObj: g === undefined ? 0 : (g[0] === 'r' ? 4 : 0) | (g[1] === 'w' ? 2 : 0) | (g[2] === 'x' ? 1 : 0),
    };
  }
  return {
    path: r.field('path').string(),
    type,
    uid: r.has('uid') ? r.field('uid').id() : 0,
    gid: r.has('gid') ? r.field('gid').id() : 0,
    mode: r.has('mode') ? r.field('mode').mode() : type === 'dir' ? 0o755 : 0o644,
    acl,
    target: r.field('target').optString(),
  };
}

function readStep(r: JsonReader): StepSpec {
  const op = r.field('op').oneOf(STEP_OPS);
  const spec = ARGS[op];
  r.object(['op', 'as', 'expect', 'note', 'compare', ...Object.keys(spec)]);
  const args: Record<string, unknown> = {};
  for (const [name, kind] of Object.entries(spec)) {
    const f = r.field(name);
    if (f.isMissing()) {
      const d = DEFAULTS[op];
      if (d && name in d) {
        args[name] = d[name];
        continue;
      }
      f.fail(`"${op}" needs "${name}"`);
    }
    switch (kind) {
      case 'path':
      case 'name':
      case 'text':
        args[name] = f.string();
        break;
      case 'id':
        args[name] = f.id();
        break;
      case 'id-1':
        args[name] = f.id(true);
        break;
      case 'ids':
        args[name] = f.array().map((x) => x.id(op === 'setresuid' || op === 'setresgid'));
        break;
      case 'mode':
        args[name] = f.mode();
        break;
      case 'access':
        args[name] = f.oneOf(['read', 'write', 'rdwr', 'exec'] as const);
        break;
      case 'how':
        args[name] = f.oneOf(['now', 'set'] as const);
        break;
      case 'map':
        args[name] = f.oneOf(['uid', 'gid', 'fsuid', 'fsgid'] as const);
        break;
      case 'ptrace':
        args[name] = f.oneOf(['realcreds', 'fscreds'] as const);
        break;
    }
  }
  if ((op === 'setresuid' || op === 'setresgid') && (args.ids as number[]).length !== 3)
    r.field('ids').fail('expected three ids: real, effective, saved (-1 leaves one unchanged)');
  return {
    op,
    as: r.field('as').optString('host')!,
    args,
    expect: r.has('expect') ? readExpect(r.field('expect')) : undefined,
    note: r.field('note').optString(),
    compare: r.has('compare') ? r.field('compare').boolean() : true,
  };
}

/** "ok", "EACCES", or {"result": "ok", "uid": 0, "mode": "0644", …}: the fields are compared with the step's value. */
function readExpect(r: JsonReader): Expectation {
  if (typeof r.value === 'string') return { result: checkResult(r), fields: {} };
  r.object();
  const fields: Record<string, number | string | null | readonly number[]> = {};
  let result = 'ok';
  for (const [k, v] of Object.entries(r.value as Record<string, unknown>)) {
    const f = r.field(k);
    if (k === 'result') {
      result = checkResult(f);
      continue;
    }
    if (k === 'mode') fields[k] = f.mode();
    else if (typeof v === 'number' || typeof v === 'string' || v === null) fields[k] = v;
    else if (Array.isArray(v)) fields[k] = f.ids();
    else f.fail('expected a number, a string, null or a list of ids');
  }
  return { result, fields };
}

function checkResult(r: JsonReader): string {
  const s = r.string();
  if (s !== 'ok' && !/^E[A-Z]+$/.test(s)) r.fail(`expected "ok" or an errno name like "EACCES", got "${s}"`);
  return s;
}
