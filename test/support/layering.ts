import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

/**
 * The house's rules, read off the import graph of src/ (the layering test
 * in test/house/ runs them on the real tree, and on the tree with an upward
 * import added, to show they catch it):
 * - every folder ("room") of src/ has a tier, and imports only rooms of its
 *   own tier or below; a new room must be given a tier here, on purpose;
 * - the rooms' graph has no cycle, nor has any file graph (a file cycle
 *   within a room included);
 * - the pure rooms import no I/O: no node:fs, child_process, net, koffi or
 *   database driver (node:crypto for randomness is allowed);
 * - nothing imports cli/; container/ never imports broker/, and reaches
 *   image/ only through its index.ts.
 * Type-only imports count: they couple the rooms as much as the others.
 */
export const TIERS: Readonly<Record<string, number>> = {
  // 0: the pure core — no I/O.
  errors: 0,
  idmap: 0,
  userns: 0,
  vfs: 0,
  policy: 0,
  alloc: 0,
  ownership: 0,
  tar: 0,
  // 1: adapters to the system: system calls, /etc files, the registry stores; where state lives.
  environment: 1,
  kernel: 1,
  host: 1,
  registry: 1,
  'userns-census': 1,
  // 2: built on the adapters: tree shifting, tar streams, reading trees for the model, host facts, the image store.
  tree: 2,
  'tar-io': 2,
  'vfs-host': 2,
  'alloc-host': 2,
  scenario: 2,
  image: 2,
  'subid-ns': 2,
  // 3: running containers; views of the host; the OCI config of a run.
  container: 3,
  serve: 3,
  'oci-config': 3,
  // 4: the broker, which implements container/'s privilege port for ordinary users; the choice between it and root.
  broker: 4,
  privilege: 4,
  // 5: the edge: the CLI and the library's face.
  cli: 5,
  index: 5,
};

export const PURE = new Set(
  Object.entries(TIERS)
    .filter(([, t]) => t === 0)
    .map(([r]) => r),
);
const IO_MODULES =
  /^(node:)?(fs|fs\/promises|child_process|net|dgram|http|https|http2|tls|worker_threads|cluster|os|readline|repl|v8|vm|inspector)$|^(koffi|better-sqlite3|pg)$/;

export interface Violation {
  readonly rule:
    'unknown-room' | 'upward' | 'room-cycle' | 'file-cycle' | 'pure-io' | 'imports-cli' | 'container-broker' | 'image-internals';
  readonly message: string;
}

/** src/-relative path (a/b.ts) → its source. Test files (*.test.ts, *.test-support.ts) are left out: they may reach anywhere. */
export function readSources(srcDir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts') && !/\.test(-support)?\.ts$/.test(name))
        out.set(relative(srcDir, p), readFileSync(p, 'utf8'));
    }
  };
  walk(srcDir);
  return out;
}

/** The specifiers a module imports or re-exports, static or dynamic. */
export function importsOf(source: string): string[] {
  const specs: string[] = [];
  const re =
    /(?:^|[\s;])(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm;
  for (const m of source.matchAll(re)) specs.push(m[1] ?? m[2] ?? m[3]);
  return specs;
}

export function roomOf(file: string): string {
  const first = file.split('/')[0];
  return first.endsWith('.ts') ? first.slice(0, -3) : first;
}

export function checkLayering(sources: ReadonlyMap<string, string>): Violation[] {
  const violations: Violation[] = [];
  const roomEdges = new Map<string, Map<string, string>>();
  const fileEdges = new Map<string, string[]>();
  for (const [file, source] of sources) {
    const from = roomOf(file);
    if (TIERS[from] === undefined)
      violations.push({
        rule: 'unknown-room',
        message: `src/${from} has no tier: give it one in test/support/layering.ts (TIERS), on purpose`,
      });
    fileEdges.set(file, []);
    for (const spec of importsOf(source)) {
      if (!spec.startsWith('.')) {
        if (PURE.has(from) && IO_MODULES.test(spec))
          violations.push({ rule: 'pure-io', message: `src/${file} is in the pure room ${from}/ but imports ${spec}` });
        continue;
      }
      const target = normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts');
      if (target.startsWith('..')) continue;
      fileEdges.get(file)!.push(target);
      const to = roomOf(target);
      if (to === from) continue;
      if (!roomEdges.has(from)) roomEdges.set(from, new Map());
      roomEdges.get(from)!.set(to, file);
      if (to === 'cli') violations.push({ rule: 'imports-cli', message: `src/${file} imports src/${target}: nothing imports cli/` });
      if (from === 'container' && to === 'broker')
        violations.push({
          rule: 'container-broker',
          message: `src/${file} imports src/${target}: container/ must not import broker/ (hand it what it needs through its ports)`,
        });
      if (from === 'container' && to === 'image' && target !== 'image/index.ts')
        violations.push({
          rule: 'image-internals',
          message: `src/${file} imports src/${target}: container/ reaches image/ only through image/index.ts`,
        });
      const tf = TIERS[from],
        tt = TIERS[to];
      if (tf !== undefined && tt !== undefined && tt > tf) {
        violations.push({
          rule: 'upward',
          message: `src/${file} (${from}/, tier ${tf}) imports src/${target} (${to}/, tier ${tt}): a room imports only rooms of its tier or below`,
        });
      }
    }
  }
  for (const cycle of cycles(new Map([...roomEdges].map(([k, v]) => [k, [...v.keys()]])))) {
    const via = cycle.map(
      (r, i) => `${r}/ → ${cycle[(i + 1) % cycle.length]}/ (src/${roomEdges.get(r)!.get(cycle[(i + 1) % cycle.length])})`,
    );
    violations.push({ rule: 'room-cycle', message: `rooms import each other in a cycle: ${via.join(', ')}` });
  }
  for (const cycle of cycles(fileEdges)) {
    violations.push({
      rule: 'file-cycle',
      message: `files import each other in a cycle: ${cycle.map((f) => `src/${f}`).join(' → ')} → src/${cycle[0]}`,
    });
  }
  return violations;
}

/** One cycle per strongly connected component of more than one node (Tarjan), in edge order. */
function cycles(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>(),
    low = new Map<string, number>(),
    on = new Set<string>(),
    stack: string[] = [];
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(pathWithin(new Set(scc), edges, v));
    }
  };
  for (const v of edges.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/** A cycle through start inside the component, for the message. */
function pathWithin(scc: ReadonlySet<string>, edges: ReadonlyMap<string, readonly string[]>, start: string): string[] {
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of edges.get(v) ?? []) {
      if (!scc.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(prev.get(path[0])!);
        return path;
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...scc];
}
