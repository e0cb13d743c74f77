import { closeSync, constants as fsc, mkdirSync, openSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tryLockExclusive } from '../kernel/file/inode.js';

/**
 * The store's two kinds of lock, both flock(2): released by the kernel when
 * the process dies, so a kill -9 never leaves a lock that must be broken by
 * hand or by guessing from a pid.
 *
 * - The store lock, held only while records change (a few renames and small
 *   writes), never while a layer unpacks: imports run side by side and meet
 *   only to publish.
 * - A staging lock per staging directory, held for its whole life: gc removes
 *   staging directories whose lock it can take (their owner is gone).
 */
const POLL_MS = 15;
let chain: Promise<unknown> = Promise.resolve();

/** Runs fn holding the store lock. Calls in one process queue (flock locks are per open file, so two in one process would block each other). */
export function withStoreLock<T>(lockPath: string, fn: () => T | Promise<T>): Promise<T> {
  const run = chain.then(async () => {
    const fd = openSync(lockPath, fsc.O_RDWR | fsc.O_CREAT, 0o600);
    try {
      while (!tryLockExclusive(fd, lockPath)) await new Promise((r) => setTimeout(r, POLL_MS));
      return await fn();
    } finally {
      closeSync(fd);
    }
  });
  chain = run.catch(() => undefined);
  return run;
}

export interface Staging {
  /** An empty directory of its own under tmp/. */
  readonly dir: string;
  /** The flock'ed descriptor: a worker that inherits it keeps the staging alive (from gc) while it writes there, even past this process. */
  readonly lockFd: number;
  /** Removes the directory (whatever is still in it) and releases the lock. */
  dispose(): void;
}

/** removeTree: how to remove what the staging holds (an ordinary user's store removes trees with subordinate owners in their namespace). */
export function createStaging(tmpDir: string, removeTree: (path: string) => void = removeAll): Staging {
  mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
  const id = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const dir = join(tmpDir, id);
  const lockPath = `${dir}.lock`;
  const fd = openSync(lockPath, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL, 0o600);
  tryLockExclusive(fd, lockPath);
  mkdirSync(dir, { mode: 0o700 });
  let done = false;
  return {
    dir,
    lockFd: fd,
    dispose() {
      if (done) return;
      done = true;
      removeTree(dir);
      rmSync(lockPath, { force: true });
      closeSync(fd);
    },
  };
}

/** True when no process holds the staging directory's lock (its owner died): gc may remove it. */
export function stagingAbandoned(dir: string): boolean {
  let fd: number;
  try {
    fd = openSync(`${dir}.lock`, fsc.O_RDWR);
  } catch {
    return true; // no lock file: its owner died between the two steps of createStaging, or after dispose's first
  }
  try {
    return tryLockExclusive(fd, dir);
  } finally {
    closeSync(fd);
  }
}

function removeAll(path: string): void {
  rmSync(path, { recursive: true, force: true });
}
