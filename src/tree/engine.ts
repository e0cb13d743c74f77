import { availableParallelism } from 'node:os';
import { FsidmapError } from '../errors.js';
import { treeEngine, treeEnginePath } from '../kernel/file/tree-engine.js';
import { nativeEngine } from './native-engine.js';
import type { ShiftEngine, TreeEngineKind } from './types.js';
import { envValue, nativeBuildHint } from '../environment.js';

export type { ShiftEngine, TreeEngineKind } from './types.js';

/** At most this many threads by default: the calls contend in the filesystem beyond a few. */
const MAX_DEFAULT_THREADS = 4;

/**
 * The engine to use: `kind` (or FSIDMAP_TREE_ENGINE) when given, else the C
 * engine when built. `workers` (FSIDMAP_WORKERS): threads for the C engine
 * (0 and 1 both mean the calling thread alone; default one per core, at most
 * 4), worker threads for the TypeScript one (default none). The TypeScript
 * engine's modules are loaded only when it is chosen: they cost start-up
 * time the C engine does not need.
 */
export async function openEngine(
  kind: TreeEngineKind | undefined,
  workers: number | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ShiftEngine> {
  const wanted = kind ?? parseKind(envValue('FSIDMAP_TREE_ENGINE', env));
  const engine = wanted === 'node' ? null : treeEngine();
  if (engine === null) {
    if (wanted === 'native') {
      throw new FsidmapError('ERR_TREE_ENGINE_MISSING', `the C tree engine ${treeEnginePath(env)} is missing or of another version`, {
        context: { path: treeEnginePath(env) },
        hint: `${nativeBuildHint('native/libfsidmap-tree.c')}; or use FSIDMAP_TREE_ENGINE=node`,
      });
    }
    return (await import('./node-engine.js')).nodeEngine(workers);
  }
  const threads = workers === undefined ? Math.min(MAX_DEFAULT_THREADS, availableParallelism()) : Math.max(1, Math.floor(workers));
  return nativeEngine(engine, threads);
}

function parseKind(v: string | undefined): TreeEngineKind | undefined {
  if (v === undefined || v === '') return undefined;
  if (v === 'native' || v === 'node') return v;
  throw new FsidmapError('ERR_USAGE', `FSIDMAP_TREE_ENGINE must be native or node, not "${v}"`, {
    hint: 'unset it to use the C engine when it is built',
  });
}
