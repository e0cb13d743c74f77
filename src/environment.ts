import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Every environment variable fsidmap reads and every path it keeps state
 * in, named once. Each function takes the environment (tests and library
 * callers pass their own) and answers without touching the filesystem.
 *
 * Root keeps host state where the FHS puts a service's: /var/lib/fsidmap
 * (the registry, shift journals, the image store) and /run/fsidmap (running
 * containers, the broker's socket, caches gone at reboot). An ordinary user
 * keeps its own under $XDG_STATE_HOME/fsidmap (default
 * ~/.local/state/fsidmap) and $XDG_RUNTIME_DIR/fsidmap.
 */
export const ENV_VARS = {
  /** The range registry: a SQLite file path or a postgres:// URL (like --db). */
  FSIDMAP_DB: 'registry',
  /**
   * A file holding the registry's URL (for a password that must not show in
   * the environment or a process list): owned by the caller, mode 0600 or
   * stricter. Used when neither --db nor FSIDMAP_DB is given.
   */
  FSIDMAP_DB_FILE: 'registry',
  /** Seconds PostgreSQL may take to answer any one step before the operation fails (default 15). */
  FSIDMAP_DB_TIMEOUT: 'registry',
  /** FULL: SQLite fsyncs every commit (default NORMAL: safe against a killed process, not a power cut). */
  FSIDMAP_SQLITE_SYNCHRONOUS: 'registry',
  /** Where persistent state goes (shift journals; the image store's root). */
  FSIDMAP_STATE_DIR: 'state',
  /** Where runtime state goes (running containers, caches). */
  FSIDMAP_RUN_DIR: 'state',
  /** The broker's socket, for clients. */
  FSIDMAP_BROKER_SOCKET: 'broker',
  /** The ledger of user namespaces the broker wrote maps for (default /run/fsidmap/userns). */
  FSIDMAP_USERNS_LEDGER: 'broker',
  /** native or node: which engine makes a tree shift's system calls. */
  FSIDMAP_TREE_ENGINE: 'tree',
  /** Threads of the tree engines. */
  FSIDMAP_WORKERS: 'tree',
  /** Milliseconds between a shift's checkpoints. */
  FSIDMAP_CHECKPOINT_MS: 'tree',
  /** Seconds between a container's stop signal and SIGKILL. */
  FSIDMAP_STOP_TIMEOUT: 'run',
  /** Internal (run -d): the fd on which the supervisor tells its parent that the container runs. */
  FSIDMAP_DETACHED_READY_FD: 'run',
  /** Print the stack of an internal error. */
  FSIDMAP_DEBUG: 'cli',
  /** The directory of the programs built from native/ (default: beside the code, dist/native). */
  FSIDMAP_NATIVE_DIR: 'native',
  /** The container stage program itself. */
  FSIDMAP_STAGE: 'native',
  /** The C tree engine library itself. */
  FSIDMAP_TREE_ENGINE_LIB: 'native',
  /** Tests: kernel features the C tree engine acts as if missing (comma-separated). */
  FSIDMAP_TREE_ENGINE_COMPAT: 'test',
  /** Tests: make a container set-up step fail or hang (fail:STEP, pause:STEP). */
  FSIDMAP_TEST_STAGE_FAULT: 'test',
} as const;

export type EnvVar = keyof typeof ENV_VARS;

type Env = NodeJS.ProcessEnv;
const euidNow = () => process.geteuid?.() ?? 0;

/** A variable's value, '' read as unset. */
export function envValue(name: EnvVar, env: Env = process.env): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** $XDG_STATE_HOME (absolute only, as the XDG spec says), else ~/.local/state. */
function xdgStateHome(env: Env): string {
  return env.XDG_STATE_HOME?.startsWith('/') ? env.XDG_STATE_HOME : join(env.HOME || homedir(), '.local', 'state');
}

/** Persistent state: FSIDMAP_STATE_DIR, else /var/lib/fsidmap for root, $XDG_STATE_HOME/fsidmap for others. */
export function stateDir(env: Env = process.env, euid = euidNow()): string {
  return envValue('FSIDMAP_STATE_DIR', env) ?? (euid === 0 ? ROOT_STATE_DIR : join(xdgStateHome(env), 'fsidmap'));
}
export const ROOT_STATE_DIR = '/var/lib/fsidmap';

/** Runtime state: FSIDMAP_RUN_DIR, else /run/fsidmap for root, $XDG_RUNTIME_DIR/fsidmap (or under the state dir) for others. */
export function runDir(env: Env = process.env, euid = euidNow()): string {
  const set = envValue('FSIDMAP_RUN_DIR', env);
  if (set) return set;
  if (euid === 0) return ROOT_RUN_DIR;
  return env.XDG_RUNTIME_DIR?.startsWith('/') ? join(env.XDG_RUNTIME_DIR, 'fsidmap') : join(xdgStateHome(env), 'fsidmap', 'run');
}
export const ROOT_RUN_DIR = '/run/fsidmap';

/** The registry's SQLite file when neither --db nor FSIDMAP_DB names one. */
export function defaultRegistryPath(env: Env = process.env, euid = euidNow()): string {
  return euid === 0 ? join(ROOT_STATE_DIR, 'registry.db') : join(xdgStateHome(env), 'fsidmap', 'registry.db');
}

/** The broker's socket: FSIDMAP_BROKER_SOCKET, else the one fsidmap-broker.socket listens on. */
export function brokerSocketPath(env: Env = process.env): string {
  return envValue('FSIDMAP_BROKER_SOCKET', env) ?? DEFAULT_BROKER_SOCKET;
}
export const DEFAULT_BROKER_SOCKET = join(ROOT_RUN_DIR, 'broker.sock');

/**
 * A program or library built from native/ by scripts/build-native.sh: in
 * FSIDMAP_NATIVE_DIR, else dist/native beside this code; `override` names a
 * variable that points at that one file.
 */
export function nativePath(name: string, env: Env = process.env, override?: 'FSIDMAP_STAGE' | 'FSIDMAP_TREE_ENGINE_LIB'): string {
  const own = override ? envValue(override, env) : undefined;
  if (own) return own;
  const dir = envValue('FSIDMAP_NATIVE_DIR', env);
  // This file is dist/src/environment.js; the native build is dist/native/.
  return dir ? join(dir, name) : fileURLToPath(new URL(`../native/${name}`, import.meta.url));
}

/**
 * How to build a missing native stage, naming the script by its absolute path:
 * in a checkout `npm run build` does it, but an installed package (npm install
 * -g, whose postinstall found no compiler) has only the script.
 */
export function nativeBuildHint(source: string): string {
  const script = fileURLToPath(new URL('../../scripts/build-native.sh', import.meta.url));
  return `build it with \`sh ${script}\` (\`npm run build\` in a checkout): it compiles ${source} with the machine's C compiler (Debian: apt-get install gcc libc6-dev)`;
}
