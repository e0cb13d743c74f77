import { constants as osConstants } from 'node:os';
import type { RunSpec } from './spec.js';
import { type Container, startContainer, type StartOptions } from './start.js';

export type RunOptions = Omit<StartOptions, 'signal'> & {
  /** Told once the container runs (run -d's supervisor tells its parent then). */
  readonly onStart?: (container: Container) => void;
};

const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
type StopSignal = (typeof STOP_SIGNALS)[number];

/**
 * `fsidmap run` in the foreground: starts the container, waits for CMD and
 * returns its exit status (128+signal when it was killed). SIGTERM, SIGHUP
 * and SIGINT to fsidmap stop the container first (CMD gets the signal, then
 * SIGKILL after the stop timeout) and cleanup follows; during setup they
 * abort it, undoing what was made, and the status is 128+signal.
 *
 * With a terminal on stdin (and fsidmap its foreground job), the stage
 * makes CMD the terminal's foreground process group, so the keyboard's
 * SIGINT reaches CMD alone and CMD decides — an interactive shell survives
 * Ctrl-C, as it would outside a container; a SIGINT that reaches fsidmap
 * was sent to it, and stops the container like SIGTERM.
 */
export async function runContainer(spec: RunSpec, options: RunOptions = {}): Promise<number> {
  const setup = new AbortController();
  let container: Container | null = null;
  let stopping: Promise<number> | null = null;
  const handlers = new Map<StopSignal, () => void>();
  for (const sig of STOP_SIGNALS) {
    const handler = () => {
      if (!container) {
        setup.abort(sig);
        return;
      }
      // A second stop signal does not wait for the stop timeout.
      if (stopping) void container.kill();
      else stopping = container.stop(sig);
    };
    handlers.set(sig, handler);
    process.on(sig, handler);
  }
  try {
    try {
      const { onStart, ...start } = options;
      container = await startContainer(spec, { ...start, signal: setup.signal });
      onStart?.(container);
    } catch (e) {
      if (setup.signal.aborted) return 128 + osConstants.signals[setup.signal.reason as StopSignal];
      throw e;
    }
    return await (stopping ?? container.exited);
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}
