import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { FsidmapError } from '../../errors.js';
import type { ParsedArgs } from '../command.js';

/**
 * run -d: fsidmap starts itself again as the container's supervisor — a
 * `run` of its own session (setsid), with the container's stdout and stderr
 * going to a log file and no terminal — and returns once that supervisor
 * says, on an inherited pipe, that the container runs (or why it does
 * not). The supervisor is an ordinary foreground run in every other way:
 * the same checks, the same port (root or the broker), the same cleanup
 * when CMD exits or `fsidmap stop` ends it.
 */

/** The supervisor's side: the fd it tells its parent on (FSIDMAP_DETACHED_READY_FD). */
export const READY_FD_VAR = 'FSIDMAP_DETACHED_READY_FD';

type ReadyLine = { ready: true; name: string; pid: number } | { error: { code: string; message: string; hint?: string } };

/** The argv of `run` again, from what was parsed (every option as given, but -d), with the name fixed. */
export function supervisorArgv(args: ParsedArgs, name: string): string[] {
  const out = ['run'];
  for (const [key, value] of Object.entries(args.values)) {
    if (key === 'detach' || key === 'name' || key === 'help' || value === undefined || value === false) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.push(v === true ? `--${key}` : `--${key}=${String(v)}`);
  }
  out.push(`--name=${name}`, '--', ...args.rest);
  return out;
}

/** Starts the supervisor and waits for its word; returns its pid once the container runs. */
export async function startSupervisor(argv: readonly string[], log: string, env: NodeJS.ProcessEnv): Promise<number> {
  mkdirSync(dirname(log), { recursive: true, mode: 0o700 });
  const logFd = openSync(log, 'w', 0o600);
  const main = fileURLToPath(new URL('../main.js', import.meta.url));
  let child;
  try {
    child = spawn(process.execPath, [main, ...argv], {
      detached: true,
      stdio: ['ignore', logFd, logFd, 'pipe'],
      env: { ...env, [READY_FD_VAR]: '3' },
    });
  } finally {
    closeSync(logFd);
  }
  const pipe = child.stdio[3] as Readable;
  let text = '';
  pipe.setEncoding('utf8').on('data', (d: string) => {
    text += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve) => pipe.once('close', () => resolve()));
  const line = text.split('\n').find((l) => l.startsWith('{'));
  const said = line ? (JSON.parse(line) as ReadyLine) : null;
  if (said && 'ready' in said) {
    child.unref();
    return child.pid!;
  }
  const code = await exited;
  if (said && 'error' in said) {
    throw new FsidmapError(said.error.code, said.error.message, said.error.hint ? { hint: said.error.hint } : {});
  }
  throw new FsidmapError('ERR_RUN_SETUP', `the detached container's supervisor exited (status ${code}) before the container ran`, {
    hint: `its log says why: ${log}: ${lastLine(log)}`,
  });
}

function lastLine(log: string): string {
  try {
    return readFileSync(log, 'utf8').trim().split('\n').pop() ?? '';
  } catch {
    return '(no log)';
  }
}

/** The supervisor's side: one JSON line to the parent, then the pipe is closed. */
export function tellParent(fd: number, line: ReadyLine): void {
  try {
    writeSync(fd, JSON.stringify(line) + '\n');
  } catch {
    /* the parent went away; the container runs all the same */
  }
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
}
