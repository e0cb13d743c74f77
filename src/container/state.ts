import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FsidmapError } from '../errors.js';
import { runDir as runDirOf } from '../environment.js';

/**
 * One file per running container, /run/fsidmap/containers/NAME.json: it
 * reserves the name (created with O_EXCL) and says who runs it (the
 * fsidmap process, the stage and init pids, the maps), like `runc state`.
 * A file whose fsidmap process is gone (same pid, different start time, or
 * no process), or that was written before the last boot, is stale and is
 * taken over. Mode 0644, so that views of the host (serve, as nobody) list
 * it; CMD's environment, which exec needs and which may hold secrets given
 * with --env, is kept beside it in NAME.env, mode 0600.
 * FSIDMAP_RUN_DIR moves the directory (tests).
 */
export interface ContainerState {
  readonly name: string;
  readonly pid: number;
  /** /proc/PID/stat field 22, to tell our pid from a reused one. */
  readonly pidStart: string;
  readonly stagePid: number | null;
  readonly initPid: number | null;
  readonly rootfs: string | null;
  readonly uidMap: string;
  readonly gidMap: string;
  readonly startedAt: string;
  /** /proc/sys/kernel/random/boot_id when the file was made: after a reboot every pid means something else. */
  readonly bootId?: string;
  /** Start time of initPid, so exec, stop and kill never reach a process that reused its number. */
  readonly initStart?: string | null;
  /** What an exec joins: CMD's credentials, environment and working directory. */
  readonly exec?: ExecContext;
  readonly network?: 'host' | 'none';
  /** The rootfs's fsid map (uid map, compact), or the image it was made from; null: none. */
  readonly fs?: string | null;
  /** run -d: the supervisor's log of CMD's output. */
  readonly detached?: boolean;
  readonly log?: string | null;
}

export interface ExecContext {
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
}

/** running: the supervisor and init live; starting/exiting: the supervisor lives, init not (yet, any more); stale: left by a killed fsidmap or an earlier boot. */
export type ContainerStatus = 'running' | 'starting' | 'exiting' | 'stale';

let bootIdCache: string | undefined;
export function bootId(): string {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
    } catch {
      bootIdCache = '';
    }
  }
  return bootIdCache;
}

export function statusOf(state: ContainerState): ContainerStatus {
  if ((state.bootId !== undefined && state.bootId !== bootId()) || !isLive(state)) return 'stale';
  if (state.initPid === null) return 'starting';
  if (state.initStart && processStart(state.initPid) !== state.initStart) return 'exiting';
  return 'running';
}

/** Every state file, stale ones included (ps -a). */
export function listAllStates(env: NodeJS.ProcessEnv = process.env): ContainerState[] {
  let names: string[];
  try {
    names = readdirSync(runDir(env));
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.json'))
    .map((n) => readState(n.slice(0, -5), env))
    .filter((s): s is ContainerState => s !== null);
}

/** Removes a stale state file (its fsidmap was killed, or the host rebooted); a live one stays. Returns whether it went. */
export function removeStale(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const s = readState(name, env);
  if (s === null || statusOf(s) !== 'stale') return false;
  unlinkQuiet(statePath(name, env));
  unlinkQuiet(envPath(name, env));
  return true;
}

export function runDir(env: NodeJS.ProcessEnv = process.env): string {
  // An ordinary user (through the broker) keeps its containers' state in a directory of its own.
  return join(runDirOf(env), 'containers');
}

function statePath(name: string, env: NodeJS.ProcessEnv): string {
  return join(runDir(env), `${name}.json`);
}

function envPath(name: string, env: NodeJS.ProcessEnv): string {
  return join(runDir(env), `${name}.env`);
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone, or taken over by another fsidmap */
  }
}

/** Writes path whole (rename over it) with the given mode. */
function writeWhole(path: string, text: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** The state as the 0644 file holds it: exec's environment left out. */
function publicPart(state: ContainerState): ContainerState {
  if (!state.exec) return state;
  const { env: _secret, ...exec } = state.exec;
  return { ...state, exec: { ...exec, env: {} } };
}

export function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces and parentheses: count fields from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

export function isLive(state: Pick<ContainerState, 'pid' | 'pidStart'>): boolean {
  return processStart(state.pid) === state.pidStart;
}

export function readState(name: string, env: NodeJS.ProcessEnv = process.env): ContainerState | null {
  let state: ContainerState;
  try {
    state = JSON.parse(readFileSync(statePath(name, env), 'utf8')) as ContainerState;
  } catch {
    return null;
  }
  if (!state.exec) return state;
  try {
    const secret = JSON.parse(readFileSync(envPath(name, env), 'utf8')) as Record<string, string>;
    return { ...state, exec: { ...state.exec, env: secret } };
  } catch {
    // Not ours to read (serve as nobody), or not written yet: the state without CMD's environment.
    return state;
  }
}

/** Every state file whose fsidmap process still runs. */
export function listStates(env: NodeJS.ProcessEnv = process.env): ContainerState[] {
  return listAllStates(env).filter((s) => statusOf(s) !== 'stale');
}

/** Reserves name for this process, or throws ERR_NAME_IN_USE. Returns the function that releases it. */
export function reserveName(
  initial: Omit<ContainerState, 'pid' | 'pidStart' | 'startedAt' | 'bootId'>,
  env: NodeJS.ProcessEnv = process.env,
): {
  update(patch: Partial<ContainerState>): void;
  release(): void;
} {
  mkdirSync(runDir(env), { recursive: true, mode: 0o755 });
  const path = statePath(initial.name, env);
  let state: ContainerState = {
    ...initial,
    pid: process.pid,
    pidStart: processStart(process.pid) ?? '',
    startedAt: new Date().toISOString(),
    bootId: bootId(),
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      try {
        writeSync(fd, JSON.stringify(publicPart(state)) + '\n');
      } finally {
        closeSync(fd);
      }
      if (state.exec) writeWhole(envPath(initial.name, env), JSON.stringify(state.exec.env) + '\n', 0o600);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const other = readState(initial.name, env);
      // A file that cannot be read yet is being written by a racing starter: treat it as live.
      if (other === null ? attempt >= 2 : statusOf(other) !== 'stale' || attempt >= 2) {
        throw new FsidmapError(
          'ERR_NAME_IN_USE',
          `a container named "${initial.name}" is already running${other ? ` (fsidmap pid ${other.pid})` : ''}`,
          {
            context: { name: initial.name, pid: other?.pid ?? null },
            hint: 'choose another --name, or stop that container first',
          },
        );
      }
      // Stale: its fsidmap died without cleaning up (SIGKILL). Take it over.
      unlinkQuiet(path);
      unlinkQuiet(envPath(initial.name, env));
    }
  }
  let held = true;
  return {
    update(patch) {
      if (!held) return;
      state = { ...state, ...patch };
      // The environment first: a reader that finds exec in the state finds its environment too.
      if (patch.exec) writeWhole(envPath(initial.name, env), JSON.stringify(patch.exec.env) + '\n', 0o600);
      writeWhole(path, JSON.stringify(publicPart(state)) + '\n', 0o644);
    },
    release() {
      if (!held) return;
      held = false;
      const current = readState(initial.name, env);
      if (current && current.pid === state.pid && current.pidStart === state.pidStart) {
        unlinkQuiet(envPath(initial.name, env));
        unlinkQuiet(path);
      }
    },
  };
}
