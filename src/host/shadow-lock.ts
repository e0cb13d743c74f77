import { closeSync, fdatasyncSync, linkSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { FsidmapError } from '../errors.js';

/**
 * shadow-utils' lock file for a database (lib/commonio.c do_lock_file): the
 * lock is "<file>.lock", a hard link to a temporary "<file>.<pid>" holding
 * the pid and a NUL. usermod, useradd, userdel and libsubid take it before
 * they rewrite /etc/subuid or /etc/subgid, so holding it keeps them out
 * while fsidmap rewrites the file. A lock whose pid is gone is stale and
 * removed, as shadow does. (shadow's tools also take lckpwdf's
 * /etc/.pwd.lock, an fcntl lock; every shadow writer takes this link lock
 * as well, so the link lock alone excludes them.)
 */

export interface LockOptions {
  /** Attempts before giving up (shadow: 15). */
  readonly tries?: number;
  /** Pause between attempts in milliseconds (shadow: 1 s). */
  readonly delayMs?: number;
}

export interface ShadowLock {
  readonly path: string;
  release(): void;
}

export function lockShadowFile(file: string, options: LockOptions = {}): ShadowLock {
  const tries = options.tries ?? 15;
  const delay = options.delayMs ?? 1000;
  const lock = `${file}.lock`;
  let holder: number | undefined;
  for (let i = 0; i < tries; i++) {
    if (i > 0) sleep(delay);
    const r = tryLock(file, lock);
    if (r === true) return { path: lock, release: () => release(lock) };
    holder = r;
  }
  throw new FsidmapError(
    'ERR_HOST_LOCKED',
    `${file} is locked by ${holder === undefined ? 'another process' : `process ${holder}`} (${lock})`,
    {
      hint: `wait for that process (usermod, useradd, another fsidmap) to finish; if it is gone, remove ${lock}`,
      context: { path: file, lock, pid: holder },
    },
  );
}

/** One do_lock_file attempt: true when locked, else the pid holding it (undefined when unknown). */
function tryLock(file: string, lock: string): true | number | undefined {
  const tmp = `${file}.${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, Buffer.from(`${process.pid}\0`));
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    if (link(tmp, lock)) return nlinkIsTwo(tmp);
    const pid = readPid(lock);
    if (pid !== undefined && alive(pid)) return pid;
    // Stale: its process is gone (or the file holds no pid, which shadow refuses to break; so do we).
    if (pid === undefined) return undefined;
    try {
      unlinkSync(lock);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    return link(tmp, lock) ? nlinkIsTwo(tmp) : undefined;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* gone */
    }
  }
}

function link(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    throw new FsidmapError('ERR_HOST_LOCK', `cannot create lock ${to}: ${(e as Error).message}`, {
      hint: code === 'EACCES' || code === 'EPERM' ? 'locking a file in /etc needs root' : undefined,
      cause: e,
      context: { lock: to },
    });
  }
}

/** check_link_count: the link worked only if the temporary file now has exactly two names. */
function nlinkIsTwo(tmp: string): true | undefined {
  return statSync(tmp).nlink === 2 ? true : undefined;
}

function readPid(lock: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(lock, 'latin1');
  } catch {
    return undefined;
  }
  const m = /^\s*(\d+)(\0|$)/.exec(text);
  return m ? Number(m[1]) : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else; shadow would break the lock, we do not.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function release(lock: string): void {
  // Only remove the lock if it is still ours.
  if (readPid(lock) === process.pid) unlinkSync(lock);
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
