import { FsidmapError } from '../errors.js';
import { formatInline, type MapKind } from '../idmap/index.js';
import { viewCred } from '../userns/cred.js';
import type { FsidSemantics } from '../userns/namespace.js';
import { setfsid, setgroups, setid, setresid } from '../userns/setid.js';
import { killOk, ptraceMayAccess, type PtraceMode, type Task } from '../userns/task.js';
import { type Outcome, type Step, Trace, resultName, success, failure } from '../userns/trace.js';
import { chmod, chown, utimes } from '../vfs/attr.js';
import { remove } from '../vfs/delete.js';
import { makeIdmappedMount } from '../vfs/idmapped.js';
import { octal } from '../vfs/inode.js';
import { type OpenAccess, create, open, stat } from '../vfs/ops.js';
import type { Scenario, StepSpec } from './schema.js';
import { type World, buildWorld, mapText } from './setup.js';

export type Value = Readonly<Record<string, number | string | readonly number[] | null>>;

export interface StepReport {
  readonly index: number;
  readonly op: string;
  readonly as: string;
  /** What the step acted on: a path, a process, a namespace's map. */
  readonly target: string;
  readonly result: string;
  readonly expected: string | null;
  /** null when the step states no expectation. */
  readonly match: boolean | null;
  /** Why a match failed, field by field. */
  readonly mismatch: string | null;
  readonly value: Value | null;
  readonly rule: string;
  readonly reason: string;
  readonly note: string | null;
  readonly compare: boolean;
  readonly trace: readonly Step[];
}

export interface ScenarioReport {
  readonly name: string;
  readonly description: string;
  readonly semantics: FsidSemantics;
  readonly steps: readonly StepReport[];
  readonly mismatches: number;
  readonly ok: boolean;
}

/** Sets up the scenario's world and runs its steps in order; a step that fails does not stop the run. */
export function runScenario(s: Scenario, options: { semantics?: FsidSemantics } = {}): ScenarioReport {
  const semantics = options.semantics ?? s.semantics;
  const world = buildWorld(s, semantics);
  const steps = s.steps.map((step, i) => runStep(world, step, i + 1));
  const mismatches = steps.filter((r) => r.match === false).length;
  return { name: s.name, description: s.description, semantics, steps, mismatches, ok: mismatches === 0 };
}

function task(world: World, name: string, step: number): Task {
  const t = world.sys.task(name);
  if (!t)
    throw new FsidmapError('ERR_SCENARIO_INVALID', `step ${step}: unknown process "${name}"`, {
      hint: 'declare it under processes, or create it with a fork step first',
    });
  return t;
}

function namespace(world: World, name: string, step: number) {
  const ns = world.sys.namespace(name);
  if (!ns) throw new FsidmapError('ERR_SCENARIO_INVALID', `step ${step}: unknown namespace "${name}"`);
  return ns;
}

function runStep(world: World, step: StepSpec, index: number): StepReport {
  const a = step.args as Record<string, never>;
  const { vfs, sys } = world;
  const me = task(world, step.as, index);
  let target = (a.path as string | undefined) ?? '';
  let o: Outcome<unknown>;
  let value: Value | null = null;
  const setCred = (r: Outcome<unknown>) => {
    if (r.ok) me.cred = r.value as Task['cred'];
    return r;
  };
  switch (step.op) {
    case 'stat': {
      const r = stat(vfs, me, a.path);
      o = r;
      if (r.ok)
        value = {
          uid: r.value!.uid,
          gid: r.value!.gid,
          mode: r.value!.mode,
          type: r.value!.type,
          diskUid: r.value!.diskUid ?? null,
          diskGid: r.value!.diskGid ?? null,
        };
      break;
    }
    case 'open':
      o = open(vfs, me, a.path, a.access as OpenAccess);
      target = `${a.path} (${a.access})`;
      break;
    case 'create':
    case 'mkdir': {
      const r = create(vfs, me, a.path, step.op === 'mkdir' ? 'dir' : 'file', a.mode);
      o = r;
      if (r.ok) value = { diskUid: r.value!.diskUid ?? null, diskGid: r.value!.diskGid ?? null, mode: r.value!.mode };
      break;
    }
    case 'chown':
    case 'chmod':
    case 'utimes': {
      const r =
        step.op === 'chown'
          ? chown(vfs, me, a.path, a.uid, a.gid)
          : step.op === 'chmod'
            ? chmod(vfs, me, a.path, a.mode)
            : utimes(vfs, me, a.path, a.how);
      o = r;
      if (step.op === 'chown') target = `${a.path} → ${a.uid}:${a.gid}`;
      if (step.op === 'chmod') target = `${a.path} → ${octal(a.mode)}`;
      if (r.ok) value = { diskUid: r.value!.diskUid ?? null, diskGid: r.value!.diskGid ?? null, mode: r.value!.mode };
      break;
    }
    case 'unlink':
    case 'rmdir':
      o = remove(vfs, me, a.path, step.op === 'rmdir');
      break;
    case 'disk': {
      const t = new Trace();
      const at = vfs.lookupNoPerm(a.path);
      if (!at.inode) {
        o = failure(t, 'ENOENT', 'disk', `${a.path} does not exist`);
        break;
      }
      const n = at.inode;
      value = { uid: n.diskUid ?? null, gid: n.diskGid ?? null, mode: n.mode, type: n.type };
      o = success(
        t,
        'disk',
        `on disk ${n.diskUid}:${n.diskGid} ${octal(n.mode)} (${n.type}; the administrator's view, no permission check)`,
      );
      break;
    }
    case 'kill':
    case 'ptrace': {
      const other = task(world, a.target, index);
      target = other.name;
      o = step.op === 'kill' ? killOk(me, other) : ptraceMayAccess(me, other, a.mode as PtraceMode);
      break;
    }
    case 'unshare': {
      if (sys.namespace(a.ns)) throw new FsidmapError('ERR_SCENARIO_INVALID', `step ${index}: namespace "${a.ns}" already exists`);
      target = a.ns;
      const r = sys.unshare(me, a.ns);
      o = r;
      if (r.ok) value = { ns: a.ns, level: r.value!.ns.level };
      break;
    }
    case 'write-map': {
      const ns = namespace(world, a.ns, index);
      target = `${a.ns}/${a.map}_map`;
      const r = sys.writeMap(me, ns, a.map as MapKind, mapText(a.text));
      o = r;
      if (r.ok)
        value = { installed: formatInline(r.value!.installed), mirrored: r.value!.mirrored ? formatInline(r.value!.mirrored) : null };
      break;
    }
    case 'write-setgroups':
      target = `${a.ns}/setgroups`;
      o = sys.writeSetgroups(me, namespace(world, a.ns, index), a.text);
      break;
    case 'fork': {
      if (sys.task(a.name)) throw new FsidmapError('ERR_SCENARIO_INVALID', `step ${index}: process "${a.name}" already exists`);
      sys.fork(me, a.name);
      target = a.name;
      o = success(new Trace(), 'fork', `${a.name} is a copy of ${me.name}`);
      break;
    }
    case 'setuid':
    case 'setgid':
      target = String(a.id);
      o = setCred(setid(me.cred, step.op === 'setuid' ? 'uid' : 'gid', a.id));
      break;
    case 'setresuid':
    case 'setresgid': {
      const [r, e, s] = a.ids as number[];
      target = `${r},${e},${s}`;
      o = setCred(setresid(me.cred, step.op === 'setresuid' ? 'uid' : 'gid', r, e, s));
      break;
    }
    case 'setfsuid':
    case 'setfsgid': {
      const r = setfsid(me.cred, step.op === 'setfsuid' ? 'uid' : 'gid', a.id);
      setCred(r);
      o = r;
      target = String(a.id);
      value = { previous: r.previous };
      break;
    }
    case 'setgroups':
      target = (a.groups as number[]).join(',');
      o = setCred(setgroups(me.cred, a.groups));
      break;
    case 'ids': {
      // Without "in": getresuid in the process's own namespace. With it: /proc/PID/status read from that namespace.
      const seenFrom = a.in ? namespace(world, a.in, index) : me.cred.userNs;
      const v = viewCred(me.cred, seenFrom);
      target = a.in ? `seen from ${a.in}` : '';
      value = { uid: v.uid, gid: v.gid, groups: v.groups, caps: v.capEffective, ns: v.ns };
      o = success(
        new Trace(),
        a.in ? 'proc_pid_status' : 'getresuid',
        `uid ${v.uid.join('/')} gid ${v.gid.join('/')} (real/effective/saved/fs) as seen from ${seenFrom.name}; lives in ${v.ns}, caps ${v.capEffective}`,
      );
      break;
    }
    case 'idmap-mount':
      target = `${a.source} → ${a.path}`;
      o = makeIdmappedMount(vfs, me, a.source, a.path, namespace(world, a.ns, index));
      break;
  }
  return report(step, index, target, o, value);
}

function report(step: StepSpec, index: number, target: string, o: Outcome<unknown>, value: Value | null): StepReport {
  const result = resultName(o);
  let match: boolean | null = null,
    mismatch: string | null = null;
  const exp = step.expect;
  if (exp) {
    const diffs: string[] = [];
    if (exp.result !== result) diffs.push(`result ${result}, expected ${exp.result}`);
    for (const [k, want] of Object.entries(exp.fields)) {
      const got = value?.[k];
      if (!same(got, want)) diffs.push(`${k} ${show(k, got)}, expected ${show(k, want)}`);
    }
    match = diffs.length === 0;
    mismatch = match ? null : diffs.join('; ');
  }
  return {
    index,
    op: step.op,
    as: step.as,
    target,
    result,
    expected: exp ? expectText(exp) : null,
    match,
    mismatch,
    value,
    rule: o.rule,
    reason: o.reason,
    note: step.note ?? null,
    compare: step.compare,
    trace: o.trace,
  };
}

function same(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

function show(k: string, v: unknown): string {
  if (k === 'mode' && typeof v === 'number') return octal(v);
  if (Array.isArray(v)) return `[${v.join(',')}]`;
  return v === undefined ? '(none)' : String(v);
}

export function expectText(e: NonNullable<StepSpec['expect']>): string {
  const f = Object.entries(e.fields).map(([k, v]) => `${k}=${show(k, v)}`);
  return f.length ? `${e.result} ${f.join(' ')}` : e.result;
}

/**
 * sameResultsAs: step i of `a` must have the result and value of step i of
 * `b`, except steps either marks `compare: false`. Returns the differences.
 */
export function compareReports(a: ScenarioReport, b: ScenarioReport): string[] {
  const out: string[] = [];
  if (a.steps.length !== b.steps.length) out.push(`${a.name} has ${a.steps.length} steps, ${b.name} has ${b.steps.length}`);
  const n = Math.min(a.steps.length, b.steps.length);
  for (let i = 0; i < n; i++) {
    const x = a.steps[i],
      y = b.steps[i];
    if (!x.compare || !y.compare) continue;
    if (x.op !== y.op) {
      out.push(`step ${i + 1}: ${a.name} does ${x.op}, ${b.name} does ${y.op}`);
      continue;
    }
    if (x.result !== y.result) out.push(`step ${i + 1} (${x.op} ${x.target}): ${x.result} in ${a.name}, ${y.result} in ${b.name}`);
    else if (JSON.stringify(x.value) !== JSON.stringify(y.value))
      out.push(`step ${i + 1} (${x.op} ${x.target}): ${JSON.stringify(x.value)} in ${a.name}, ${JSON.stringify(y.value)} in ${b.name}`);
  }
  return out;
}
