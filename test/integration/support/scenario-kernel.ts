import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Container, type MapPair, startContainer } from '../../../src/container/index.js';
import { copyExecutable } from '../../../src/container/sample-image.js';
import { compose, type IdMap, invert, parseMap } from '../../../src/idmap/index.js';
import type { Scenario, StepSpec } from '../../../src/scenario/index.js';
import { childrenOf, repoRoot } from './run-fixtures.js';

/**
 * Realizes a scenario of `fsidmap simulate` on the real kernel with `fsidmap
 * run`, for the model/kernel agreement test. Shapes it takes: namespaces
 * made by host with uid/gid maps and, optionally, fsuid/fsgid maps (or an
 * idmapped mount whose map is turned back into the fsid map it realizes);
 * processes in those namespaces or in the initial one; the tree; steps
 * stat, open (read, write, rdwr), create, mkdir, chown, chmod, utimes,
 * unlink, rmdir, disk, kill and ids. The whole tree is stored on disk as
 * declared. Each namespace becomes a container whose CMD is
 * test/native/vfs-ops, and each of its views — a mount under /NS/ (SOURCE
 * at PATH), or /NS/rootfs itself when it has none — a volume /vI through
 * the namespace's fsid map, so PATH/x is /vI/x inside. Steps it cannot
 * realize come back as null.
 */
export interface KernelStep {
  readonly index: number;
  readonly result: string;
  readonly value: Record<string, unknown> | null;
}

const VFS_OPS = join(repoRoot, 'dist/test/native/vfs-ops');

interface Proc {
  readonly name: string;
  readonly ns: string;
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
  /** Host pid of a process with its credentials (a sleeper): the target of kill. */
  hostPid: number;
  nsPid: number | null;
}

/** One container per namespace: vfs-ops answering one line per line. */
class Server {
  private buf = '';
  private waiters: Array<(l: string) => void> = [];
  constructor(
    readonly ns: string,
    readonly c: Container,
  ) {
    c.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.buf += d;
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        this.waiters.shift()?.(line);
      }
    });
  }
  ask(line: string): Promise<string> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.c.stdin!.write(line + '\n');
    });
  }
  async as(p: Proc, line: string): Promise<string> {
    await this.ask(`as ${p.uid} ${p.gid} ${p.groups.join(' ')}`.trim());
    return this.ask(line);
  }
}

const mapOf = (text: string | undefined): IdMap | undefined => (text === undefined ? undefined : parseMap(text));

/** The fsid maps that a mount with map m realizes for a namespace with id maps ids: F with m = idmap ∘ F⁻¹. */
function fsidOfMount(m: MapPair, ids: MapPair): MapPair {
  return { uid: invert(compose(m.uid, invert(ids.uid))), gid: invert(compose(m.gid, invert(ids.gid))) };
}

interface View {
  readonly path: string;
  readonly source: string;
  readonly target: string;
}

export async function realizeOnKernel(s: Scenario, dir: string, tag: string): Promise<Array<KernelStep | null>> {
  // The scenario's tree, stored on disk as declared (undeclared parents: root's, 0755).
  const tree = join(dir, 'tree');
  mkdirSync(tree);
  for (const e of s.tree) {
    const p = join(tree, e.path);
    if (e.type === 'dir') mkdirSync(p, { recursive: true });
    else {
      mkdirSync(join(p, '..'), { recursive: true });
      if (e.type === 'symlink') symlinkSync(e.target ?? '/', p);
      else writeFileSync(p, '');
    }
    lchownSync(p, e.uid, e.gid);
    if (e.type !== 'symlink') chmodSync(p, e.mode);
  }
  // A small rootfs of host-owned files: vfs-ops, its libraries, and the mount points.
  const rootfs = join(dir, 'rootfs');
  for (const d of ['proc', 'dev', 'tmp', 'bin']) mkdirSync(join(rootfs, d), { recursive: true });
  copyExecutable(rootfs, VFS_OPS, '/bin/vfs-ops');

  const servers = new Map<string, Server>();
  const views = new Map<string, View[]>();
  const procs = new Map<string, Proc>();
  const hostSleepers: ChildProcess[] = [];
  try {
    for (const n of s.namespaces) {
      // Namespaces that only hold a mount's maps have no processes: no container.
      if (!s.processes.some((p) => p.ns === n.name)) continue;
      const ids: MapPair = { uid: mapOf(n.maps.uid?.text)!, gid: mapOf(n.maps.gid?.text)! };
      let fs: MapPair | null = null;
      if (n.maps.fsuid || n.maps.fsgid) fs = { uid: mapOf(n.maps.fsuid?.text) ?? ids.uid, gid: mapOf(n.maps.fsgid?.text) ?? ids.gid };
      const mounts = s.mounts.filter((m) => m.path.startsWith(`/${n.name}/`));
      const specs = mounts.length > 0 ? mounts : [{ path: `/${n.name}/rootfs`, source: `/${n.name}/rootfs`, idmap: undefined }];
      const vs: View[] = specs.map((m, i) => ({ path: m.path, source: m.source, target: `/v${i}` }));
      views.set(n.name, vs);
      const volumes = specs.map((m, i) => {
        let vfs = fs;
        if (m.idmap) {
          const holder = s.namespaces.find((x) => x.name === m.idmap)!;
          vfs = fsidOfMount({ uid: mapOf(holder.maps.uid?.text)!, gid: mapOf(holder.maps.gid?.text)! }, ids);
        }
        mkdirSync(join(rootfs, `v${i}`), { recursive: true });
        // No fsid map (today's kernel): a plain bind mount, as the model's plain mount.
        return { source: join(tree, m.source), target: `/v${i}`, readonly: false, fsidmap: vfs };
      });
      const c = await startContainer(
        {
          name: `${tag}-${n.name}`,
          ids: { kind: 'maps', maps: ids },
          fs: { kind: 'none' },
          rootfs,
          volumes,
          command: ['/bin/vfs-ops'],
        },
        { stdio: ['pipe', 'pipe', 'inherit'] },
      );
      servers.set(n.name, new Server(n.name, c));
    }
    for (const p of s.processes) {
      const proc: Proc = { name: p.name, ns: p.ns, uid: p.uid, gid: p.gid, groups: p.groups ?? [], hostPid: 0, nsPid: null };
      const server = servers.get(p.ns);
      if (server) {
        const r = await server.as(proc, 'spawn');
        proc.nsPid = Number(r.split(' ')[1]);
        proc.hostPid = hostPidOf(server.c, proc.nsPid);
      } else if (p.ns === 'init') {
        const child = spawn(
          'setpriv',
          [
            `--reuid=${p.uid}`,
            `--regid=${p.gid}`,
            p.groups?.length ? `--groups=${p.groups.join(',')}` : '--clear-groups',
            '--',
            'sleep',
            '100000',
          ],
          { stdio: 'ignore' },
        );
        hostSleepers.push(child);
        proc.hostPid = child.pid!;
      }
      procs.set(p.name, proc);
    }
    await new Promise((r) => setTimeout(r, 50)); // let the host sleepers reach their exec
    const out: Array<KernelStep | null> = [];
    for (let i = 0; i < s.steps.length; i++) out.push(await runStep(s.steps[i], i + 1, { tree, servers, views, procs }));
    return out;
  } finally {
    for (const c of hostSleepers) c.kill('SIGKILL');
    for (const sv of servers.values()) sv.c.stdin!.end();
    await Promise.all([...servers.values()].map((sv) => sv.c.exited));
  }
}

interface World {
  tree: string;
  servers: Map<string, Server>;
  views: Map<string, View[]>;
  procs: Map<string, Proc>;
}

function hostPidOf(c: Container, nsPid: number): number {
  const seen = new Set<number>();
  const queue = [c.initPid];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    try {
      const ns =
        readFileSync(`/proc/${pid}/status`, 'utf8')
          .match(/^NSpid:\s+(.*)$/m)?.[1]
          .split(/\s+/)
          .map(Number) ?? [];
      if (ns[ns.length - 1] === nsPid && pid !== c.initPid) return pid;
    } catch {
      /* exited */
    }
    queue.push(...childrenOf(pid));
  }
  throw new Error(`no host pid for pid ${nsPid} of ${c.name}`);
}

/** A scenario path as the container sees it (through one of its views), and where it is on disk; null if no view has it. */
function inside(path: string, views: readonly View[]): { path: string; disk: string } | null {
  for (const v of views) {
    if (path === v.path || path.startsWith(v.path + '/')) {
      const rest = path.slice(v.path.length);
      return { path: v.target + rest, disk: v.source + rest };
    }
  }
  return null;
}

function diskOf(tree: string, scenarioPath: string): { uid: number; gid: number; mode: number; type: string } | null {
  try {
    const st = lstatSync(join(tree, scenarioPath));
    return { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file' };
  } catch {
    return null;
  }
}

async function runStep(step: StepSpec, index: number, w: World): Promise<KernelStep | null> {
  const a = step.args as Record<string, unknown>;
  const me = w.procs.get(step.as);
  if (step.op === 'disk') {
    const d = diskOf(w.tree, a.path as string);
    return { index, result: d ? 'ok' : 'ENOENT', value: d };
  }
  if (step.op === 'kill') {
    const target = w.procs.get(a.target as string);
    if (!target || (!me && step.as !== 'host')) return null;
    if (step.as === 'host') {
      try {
        process.kill(target.hostPid, 0);
        return { index, result: 'ok', value: null };
      } catch (e) {
        return { index, result: (e as NodeJS.ErrnoException).code ?? 'E?', value: null };
      }
    }
    if (me!.ns === target.ns && w.servers.has(me!.ns)) {
      return { index, result: (await w.servers.get(me!.ns)!.as(me!, `kill ${target.nsPid}`)).split(' ')[0], value: null };
    }
    // Across pid namespaces: the sender's credentials (its user namespace, its ids) against the target's host pid.
    const argv =
      me!.ns === 'init'
        ? ['setpriv', `--reuid=${me!.uid}`, `--regid=${me!.gid}`, '--clear-groups', '--', 'kill', '-0', String(target.hostPid)]
        : [
            'nsenter',
            '--target',
            String(me!.hostPid),
            '--user',
            '--setuid',
            String(me!.uid),
            '--setgid',
            String(me!.gid),
            '--',
            'kill',
            '-0',
            String(target.hostPid),
          ];
    const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
    return {
      index,
      result:
        r.status === 0
          ? 'ok'
          : /Operation not permitted/.test(r.stderr)
            ? 'EPERM'
            : /No such process/.test(r.stderr)
              ? 'ESRCH'
              : `failed: ${r.stderr.trim()}`,
      value: null,
    };
  }
  if (!me || !w.servers.has(me.ns)) return null;
  const server = w.servers.get(me.ns)!;
  if (step.op === 'ids') {
    if (a.in) return null;
    const r = (await server.as(me, 'ids')).split(' ');
    if (r[0] !== 'ok') return { index, result: r[0], value: null };
    const n = r.slice(1).map(Number);
    return { index, result: 'ok', value: { uid: n.slice(0, 4), gid: n.slice(4, 8), groups: n.slice(8) } };
  }
  const at = typeof a.path === 'string' ? inside(a.path, w.views.get(me.ns) ?? []) : null;
  if (at === null) return null;
  const path = at.path;
  const octal = (m: unknown) => (m as number).toString(8);
  let line: string;
  switch (step.op) {
    case 'stat':
      line = `stat ${path}`;
      break;
    case 'open':
      if (a.access === 'exec') return null;
      line = `open ${path} ${a.access as string}`;
      break;
    case 'create':
      line = `create ${path} ${octal(a.mode)}`;
      break;
    case 'mkdir':
      line = `mkdir ${path} ${octal(a.mode)}`;
      break;
    case 'chown':
      line = `chown ${path} ${a.uid as number} ${a.gid as number}`;
      break;
    case 'chmod':
      line = `chmod ${path} ${octal(a.mode)}`;
      break;
    case 'utimes':
      line = `utimes ${path} ${a.how === 'now' ? 'now' : 'explicit'}`;
      break;
    case 'unlink':
      line = `unlink ${path}`;
      break;
    case 'rmdir':
      line = `rmdir ${path}`;
      break;
    default:
      return null;
  }
  const r = (await server.as(me, line)).split(' ');
  if (r[0] !== 'ok') return { index, result: r[0], value: null };
  const disk = diskOf(w.tree, at.disk);
  if (step.op === 'stat') {
    return {
      index,
      result: 'ok',
      value: {
        uid: Number(r[1]),
        gid: Number(r[2]),
        mode: parseInt(r[3], 8),
        type: r[4],
        diskUid: disk?.uid ?? null,
        diskGid: disk?.gid ?? null,
      },
    };
  }
  if (['create', 'mkdir', 'chown', 'chmod', 'utimes'].includes(step.op)) {
    return { index, result: 'ok', value: { diskUid: disk?.uid ?? null, diskGid: disk?.gid ?? null, mode: disk?.mode ?? null } };
  }
  return { index, result: 'ok', value: null };
}

/** Scenario files shipped in the repository, by name. */
export function shippedScenarios(): string[] {
  return readdirSync(join(repoRoot, 'scenarios'))
    .filter((f) => f.endsWith('.json'))
    .sort();
}
