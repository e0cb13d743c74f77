import { closeSync, constants as fsc, fsyncSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Writes a file so that it appears whole or not at all. `fill` writes to an
 * unnamed file (O_TMPFILE) in the target's directory; only when it
 * succeeds is the file fsynced, given a temporary name (linkat) and renamed
 * over the target. Until then the file has no name, so a failure, a signal
 * or even kill -9 leaves nothing behind, with no handler that would have to
 * run (a handler could not run anyway while a blocking read waits on a
 * pipe). Filesystems without O_TMPFILE get a named temporary file instead,
 * removed on failure and on SIGINT/SIGTERM/SIGHUP.
 */
const O_TMPFILE = 0o20000000 | fsc.O_DIRECTORY;

export async function writeFileAtomically<T>(target: string, fill: (fd: number) => Promise<T>, mode = 0o644): Promise<T> {
  const dir = dirname(target);
  const temp = join(dir, `.${basename(target)}.fsidmap-${randomBytes(6).toString('hex')}`);
  let fd: number;
  try {
    fd = openSync(dir, O_TMPFILE | fsc.O_WRONLY, mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EOPNOTSUPP' || code === 'EISDIR' || code === 'EINVAL') return writeNamedTemp(target, temp, fill, mode);
    throw e;
  }
  let open = true;
  try {
    const result = await fill(fd);
    fsyncSync(fd);
    // Loaded here: koffi only when the file is kept.
    const { linkOpenFile } = await import('../kernel/file/linkat.js');
    linkOpenFile(fd, temp);
    open = false;
    closeSync(fd);
    try {
      renameSync(temp, target);
    } catch (e) {
      unlinkSync(temp);
      throw e;
    }
    syncDir(dir);
    return result;
  } finally {
    if (open) closeSync(fd);
  }
}

/** The fallback: a named temporary file beside the target, which this function owns and removes. */
async function writeNamedTemp<T>(target: string, temp: string, fill: (fd: number) => Promise<T>, mode: number): Promise<T> {
  const fd = openSync(temp, 'wx', mode);
  let open = true;
  let present = true;
  const release = (): void => {
    if (open) {
      open = false;
      try {
        closeSync(fd);
      } catch {
        /* already closed */
      }
    }
    if (present) {
      present = false;
      try {
        unlinkSync(temp);
      } catch {
        /* already gone */
      }
    }
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const onSignal = (signal: NodeJS.Signals): void => {
    release();
    for (const s of signals) process.removeListener(s, onSignal);
    process.kill(process.pid, signal);
  };
  for (const s of signals) process.once(s, onSignal);
  try {
    const result = await fill(fd);
    fsyncSync(fd);
    open = false;
    closeSync(fd);
    renameSync(temp, target);
    present = false;
    syncDir(dirname(target));
    return result;
  } finally {
    release();
    for (const s of signals) process.removeListener(s, onSignal);
  }
}

/** Makes a rename in `dir` durable. */
function syncDir(dir: string): void {
  const d = openSync(dir, 'r');
  try {
    fsyncSync(d);
  } finally {
    closeSync(d);
  }
}
