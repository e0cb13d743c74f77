import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { FsidmapError } from '../../errors.js';
import { errnoName } from '../libc.js';
import { type NamespaceMaps, writeNamespaceMaps } from './proc-maps.js';
import { stagePath } from './stage.js';

/**
 * A user namespace kept alive by a small process (`fsidmap-stage hold`), with
 * its maps written, and an open fd of /proc/PID/ns/user. Used to make
 * idmapped mounts (mount_setattr takes the namespace's maps from it). The
 * caller owns it and must release() it; the holder also dies on its own if
 * fsidmap exits without releasing (stdin EOF, PR_SET_PDEATHSIG).
 */
export interface UsernsHolder {
  readonly pid: number;
  readonly nsFd: number;
  release(): Promise<void>;
}

export async function createUserns(maps: NamespaceMaps, setgroups: 'allow' | 'deny' = 'deny'): Promise<UsernsHolder> {
  return holdUserns((pid) => writeNamespaceMaps(pid, maps, setgroups));
}

/**
 * A holder whose maps `install` writes, given the holder's pid: root writes
 * them itself (createUserns); an ordinary user has them written by the
 * setuid newuidmap and newgidmap (src/subid-ns).
 */
export async function holdUserns(install: (pid: number) => void | Promise<void>): Promise<UsernsHolder> {
  // argv0 names the fsidmap process that owns the holder, for ps and for leak checks.
  const child = spawn(stagePath(), ['hold'], { stdio: ['pipe', 'pipe', 'inherit'], argv0: `fsidmap-stage:hold:${process.pid}` });
  let nsFd = -1;
  try {
    await waitReady(child);
    await install(child.pid!);
    nsFd = openSync(`/proc/${child.pid}/ns/user`, 'r');
  } catch (e) {
    if (nsFd >= 0) closeSync(nsFd);
    await stop(child);
    throw e;
  }
  let released = false;
  return {
    pid: child.pid!,
    nsFd,
    async release() {
      if (released) return;
      released = true;
      closeSync(nsFd);
      await stop(child);
    },
  };
}

/** Closing stdin ends the holder; if it is stuck, SIGKILL. Resolves once it has been reaped. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

function waitReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      cleanup();
      const line = text.slice(0, nl);
      if (line === 'ready') return resolve();
      const m = /^error (\S+) (\d+)/.exec(line);
      const errno = m ? Number(m[2]) : 0;
      reject(
        new FsidmapError('ERR_USERNS_CREATE', `could not create a user namespace: unshare(CLONE_NEWUSER) failed with ${errnoName(errno)}`, {
          context: { errno: errnoName(errno) },
          hint:
            errno === 28 /* ENOSPC */
              ? 'the user.max_user_namespaces limit (or the nesting depth of 32) is reached'
              : 'user namespaces may be disabled (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone) or fsidmap runs chrooted',
        }),
      );
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new FsidmapError('ERR_USERNS_CREATE', `the user-namespace holder exited before it was ready (${signal ?? `status ${code}`})`));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}
