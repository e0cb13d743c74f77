import { type ChildProcess, spawn, type StdioNull, type StdioPipe } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Duplex } from 'node:stream';
import { FsidmapError } from '../errors.js';
import { closeFd, pidfdOpen, stagePath } from '../kernel/index.js';
import type { Cleanup } from './cleanup.js';
import type { StageCommand } from './stage-command.js';
import { StageChannel, stageError } from './stage-channel.js';

export type StdioChoice = 'inherit' | StdioPipe | StdioNull | number;

/** The container's pid 1 as the host sees it; pidfd null when it has already exited. */
export interface InitProcess {
  readonly pid: number;
  readonly pidfd: number | null;
}

/**
 * The C stage of one container, from spawn to exit: the process, its
 * control socket and the steps it reports ("ready", "started PID",
 * "running"). What it acquires (the process, the socket, init's pidfd) is
 * pushed on the start's Cleanup as it is acquired.
 */
export class StageProcess {
  /** The stage's exit status (128+signal), once its output is read to the end ('close', not 'exit'). */
  readonly exited: Promise<number>;
  private readonly channel: StageChannel;

  private constructor(
    readonly child: ChildProcess,
    private readonly cleanup: Cleanup,
  ) {
    this.exited = new Promise<number>((resolve) =>
      child.once('close', (code, sig) => resolve(code ?? 128 + (osConstants.signals[sig as NodeJS.Signals] ?? 0))),
    );
    cleanup.push('stage', async () => {
      if (this.running) child.kill('SIGKILL');
      await this.exited;
    });
    this.channel = new StageChannel(child.stdio[3] as Duplex);
    cleanup.push('control socket', () => this.channel.close());
  }

  static spawn(
    command: StageCommand,
    stdio: readonly [StdioChoice, StdioChoice, StdioChoice],
    hostEnv: NodeJS.ProcessEnv,
    cleanup: Cleanup,
  ): StageProcess {
    const child = spawn(stagePath(hostEnv), command.args, {
      stdio: [...stdio, 'pipe', ...command.fds],
      env: { ...command.env },
      argv0: command.argv0,
    });
    return new StageProcess(child, cleanup);
  }

  /** Lines that came before the one awaited, in the one order the two senders can swap. */
  private readonly early: string[] = [];

  get pid(): number {
    return this.child.pid!;
  }

  /** Neither exited nor killed by a signal yet. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits for the stage's next line to start with `word`; an error line, EOF or abort throws. */
  async expect(word: string, abort: AbortSignal | undefined): Promise<string> {
    const early = this.early.indexOf(word);
    if (early >= 0) return this.early.splice(early, 1)[0];
    let line = await this.channel.next(abort);
    // init (the stage's child) says "running" on its own socket end: on a busy machine it can come before its parent's "started".
    if (word === 'started' && line === 'running') {
      this.early.push(line);
      line = await this.channel.next(abort);
    }
    if (line !== null && (line === word || line.startsWith(word + ' '))) return line;
    if (line !== null && line.startsWith('error ')) throw stageError(line);
    const code = await Promise.race([this.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 1000))]);
    throw new FsidmapError(
      'ERR_RUN_SETUP',
      `the namespace stage ${line === null ? 'exited' : `said "${line}"`} before it was ${word} (${typeof code === 'number' ? `status ${code}` : code})`,
      {
        context: { expected: word, got: line },
      },
    );
  }

  /** Lets the stage go on once its maps are written; resolves when it has started the container's init. */
  async go(abort: AbortSignal | undefined): Promise<InitProcess> {
    this.channel.send('go');
    const started = await this.expect('started', abort);
    const pid = Number(started.split(' ')[1]);
    const pidfd = openInit(pid, this.pid);
    if (pidfd !== null) this.cleanup.push('init pidfd', () => closeFd(pidfd));
    return { pid, pidfd };
  }

  /** From "running" on, the stage says nothing more. */
  closeChannel(): void {
    this.channel.close();
  }
}

/**
 * A pidfd of the container's pid 1, so a later SIGKILL cannot hit a
 * process that reused its number: taken while the stage (its parent, which
 * reaps it) still shows as its parent. Null when init has already exited
 * and been reaped — CMD was quick — since then there is nothing to signal.
 */
function openInit(initPid: number, stagePid: number): number | null {
  let fd: number;
  try {
    fd = pidfdOpen(initPid);
  } catch (e) {
    if (e instanceof FsidmapError && e.code === 'ERR_SYSCALL_ESRCH') return null;
    throw e;
  }
  let ppid = -1;
  try {
    const stat = readFileSync(`/proc/${initPid}/stat`, 'latin1');
    ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    /* gone between the two calls */
  }
  if (ppid !== stagePid) {
    closeFd(fd);
    return null;
  }
  return fd;
}
