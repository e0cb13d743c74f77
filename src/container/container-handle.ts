import type { Readable, Writable } from 'node:stream';
import { pidfdSendSignal } from '../kernel/index.js';
import type { Cleanup } from './cleanup.js';
import type { RunPlan } from './prepare.js';
import type { MapPair } from './spec.js';
import type { InitProcess, StageProcess } from './stage-process.js';

export interface Container {
  readonly name: string;
  /** Host pid of the stage (outside the container's pid namespace). */
  readonly stagePid: number;
  /** Host pid of the container's pid 1 (the stage's small init). */
  readonly initPid: number;
  readonly idmaps: MapPair;
  readonly plan: RunPlan;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** CMD's exit status (128+signal if it was killed), once every resource of the container is released. */
  readonly exited: Promise<number>;
  /** Passes a signal to CMD. */
  signal(signal: NodeJS.Signals): void;
  /** Sends CMD `signal` (SIGTERM) and SIGKILLs the container after the stop timeout; resolves with the exit status. */
  stop(signal?: 'SIGTERM' | 'SIGINT' | 'SIGHUP'): Promise<number>;
  /** SIGKILLs the container's pid 1 now, which takes every process of the container with it. */
  kill(): Promise<number>;
}

export interface RunningParts {
  readonly name: string;
  readonly plan: RunPlan;
  readonly stage: StageProcess;
  readonly init: InitProcess;
  /** Seconds the stage waits after the stop signal before it SIGKILLs init. */
  readonly stopTimeout: number;
  /** Everything the start acquired; run once the stage has exited. */
  readonly cleanup: Cleanup;
}

/** The running container: from here on, cleanup runs when the stage exits. */
export function containerHandle({ name, plan, stage, init, stopTimeout, cleanup }: RunningParts): Container {
  const { child } = stage;
  const exited = stage.exited.then(async (code) => {
    await cleanup.run();
    return code;
  });
  const stop = async (signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP' = 'SIGTERM') => {
    if (stage.running) child.kill(signal);
    // The stage SIGKILLs init after the stop timeout; this is the backstop if the stage itself hangs.
    const backstop = setTimeout(
      () => {
        if (init.pidfd !== null) pidfdSendSignal(init.pidfd, 9);
        child.kill('SIGKILL');
      },
      (stopTimeout + 5) * 1000,
    );
    try {
      return await exited;
    } finally {
      clearTimeout(backstop);
    }
  };
  return {
    name,
    stagePid: stage.pid,
    initPid: init.pid,
    idmaps: plan.idmaps,
    plan,
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    exited,
    signal(signal) {
      if (stage.running) child.kill(signal);
    },
    stop,
    async kill() {
      if (stage.running && init.pidfd !== null) pidfdSendSignal(init.pidfd, 9);
      return exited;
    },
  };
}
