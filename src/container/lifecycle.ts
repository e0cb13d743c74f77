import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { FsidmapError } from '../errors.js';
import { runDir as runDirOf } from '../environment.js';
import { closeFd, pidfdOpen, pidfdSendSignal } from '../kernel/index.js';
import { type ContainerState, processStart, readState, removeStale, statusOf } from './state.js';

/**
 * stop and kill of a running container, from any fsidmap process: they act
 * on the container's init through a pidfd checked against the start time
 * its state file recorded, so a pid reused since can never be hit. The
 * supervisor (the fsidmap that started it, in the foreground or with -d)
 * sees init exit and cleans up as after any run; stop waits for that.
 */

/** Where run -d keeps a container's output: RUN_DIR/logs/NAME.log. */
export function logPath(name: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(runDirOf(env), 'logs', `${name}.log`);
}

/** The state of a container that runs now; not found, stale and exiting ones are refused, saying which. */
export function findRunning(name: string, env: NodeJS.ProcessEnv = process.env): ContainerState & { initPid: number; initStart: string } {
  const state = readState(name, env);
  if (state === null) {
    throw new FsidmapError('ERR_CONTAINER_NOT_RUNNING', `no container named "${name}" is running`, {
      context: { name },
      hint: 'fsidmap ps lists the running containers',
    });
  }
  const status = statusOf(state);
  if (status === 'stale') {
    throw new FsidmapError(
      'ERR_CONTAINER_STALE',
      `the container "${name}" is not running: its state was left by an fsidmap that was killed, or before a reboot`,
      {
        context: { name, pid: state.pid },
        hint: `fsidmap stop ${name} removes the stale state`,
      },
    );
  }
  if (status !== 'running' || state.initPid === null || !state.initStart) {
    throw new FsidmapError('ERR_CONTAINER_NOT_RUNNING', `the container "${name}" is ${status}`, {
      context: { name, status },
      hint: 'try again in a moment',
    });
  }
  return state as ContainerState & { initPid: number; initStart: string };
}

export function signalNumber(sig: string): number {
  const upper = sig.toUpperCase();
  const n = /^\d+$/.test(sig) ? Number(sig) : osConstants.signals[(upper.startsWith('SIG') ? upper : `SIG${upper}`) as NodeJS.Signals];
  if (n === undefined || !Number.isInteger(n) || n < 1 || n > 64) {
    throw new FsidmapError('ERR_USAGE', `"${sig}" is not a signal`, { hint: 'give a name (TERM, SIGKILL, HUP, …) or a number 1–64' });
  }
  return n;
}

/**
 * Sends sig to the container's init, which passes it on to CMD's process
 * group (SIGKILL ends init, and with it every process of the container).
 * Returns false when init had already gone.
 */
export function signalContainer(state: ContainerState & { initPid: number; initStart: string }, sig: number): boolean {
  let fd: number;
  try {
    fd = pidfdOpen(state.initPid);
  } catch (e) {
    if (e instanceof FsidmapError && e.code === 'ERR_SYSCALL_ESRCH') return false;
    throw e;
  }
  try {
    // Checked after the pidfd is taken: a match means the pidfd is this container's init.
    if (processStart(state.initPid) !== state.initStart) return false;
    return pidfdSendSignal(fd, sig);
  } finally {
    closeFd(fd);
  }
}

export interface StopResult {
  /** SIGKILL was needed: CMD outlived the stop timeout. */
  readonly killed: boolean;
  /** Only a stale state file was there, and it was removed. */
  readonly stale: boolean;
}

/**
 * SIGTERM to CMD, SIGKILL to the container after timeoutSeconds, then waits
 * until its fsidmap has removed everything (its state file goes last).
 */
export async function stopContainer(name: string, timeoutSeconds: number, env: NodeJS.ProcessEnv = process.env): Promise<StopResult> {
  if (removeStale(name, env)) return { killed: false, stale: true };
  const state = findRunning(name, env);
  const gone = () => {
    const now = readState(name, env);
    return now === null || now.pid !== state.pid || now.pidStart !== state.pidStart || statusOf(now) === 'stale';
  };
  signalContainer(state, osConstants.signals.SIGTERM);
  let killed = false;
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (!gone()) {
    if (!killed && Date.now() >= deadline) {
      signalContainer(state, osConstants.signals.SIGKILL);
      killed = true;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  removeStale(name, env);
  return { killed, stale: false };
}
