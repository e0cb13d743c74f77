import { availableParallelism } from 'node:os';
import { FsidmapError } from '../../errors.js';
import { type TreeEngine, treeEngine, treeEnginePath } from '../../kernel/tree-engine.js';

/**
 * Which code makes the per-entry system calls of a scan or shift:
 * - 'native': the C engine (native/libfsidmap-tree.c), threads inside it;
 * - 'node': TypeScript through koffi, one call per entry, optionally spread
 *   over worker threads (pool.ts).
 * Both read and write exactly the same things; the C engine is several times
 * faster (docs/image-tree.md) and is used whenever it was built.
 */
export type TreeEngineKind = 'native' | 'node';

export type EngineChoice =
  | { readonly kind: 'native'; readonly engine: TreeEngine; readonly threads: number }
  | { readonly kind: 'node'; readonly engine: null; readonly workers: number | undefined };

/** At most this many threads by default: the calls contend in the filesystem beyond a few. */
const MAX_DEFAULT_THREADS = 4;

/**
 * The engine to use: `kind` (or FSIDMAP_TREE_ENGINE) when given, else the C
 * engine when built. `workers` (FSIDMAP_WORKERS): threads for the C engine
 * (0 and 1 both mean the calling thread alone; default one per core, at most
 * 4), worker threads for the TypeScript one (default none).
 */
export function chooseEngine(
  kind: TreeEngineKind | undefined,
  workers: number | undefined,
  env: NodeJS.ProcessEnv = process.env,
): EngineChoice {
  const wanted = kind ?? parseKind(env.FSIDMAP_TREE_ENGINE);
  if (wanted === 'node') return { kind: 'node', engine: null, workers };
  const engine = treeEngine();
  if (engine === null) {
    if (wanted === 'native') {
      throw new FsidmapError('ERR_TREE_ENGINE_MISSING', `the C tree engine ${treeEnginePath(env)} is missing or of another version`, {
        context: { path: treeEnginePath(env) },
        hint: 'build it with `npm run build` (scripts/build-native.sh compiles native/libfsidmap-tree.c; it needs a C compiler), or use FSIDMAP_TREE_ENGINE=node',
      });
    }
    return { kind: 'node', engine: null, workers };
  }
  const threads = workers === undefined ? Math.min(MAX_DEFAULT_THREADS, availableParallelism()) : Math.max(1, Math.floor(workers));
  return { kind: 'native', engine, threads };
}

function parseKind(v: string | undefined): TreeEngineKind | undefined {
  if (v === undefined || v === '') return undefined;
  if (v === 'native' || v === 'node') return v;
  throw new FsidmapError('ERR_USAGE', `FSIDMAP_TREE_ENGINE must be native or node, not "${v}"`, {
    hint: 'unset it to use the C engine when it is built',
  });
}
