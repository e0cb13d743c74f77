import { closeSync, fsyncSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Writes a file so that it appears whole or not at all: `fill` writes to a
 * temporary file beside the target, which is fsynced and renamed over the
 * target only when `fill` succeeds. On failure, and on SIGINT/SIGTERM/SIGHUP
 * while writing, the temporary file is removed (this function is its one
 * owner), and the signal is then re-raised so the process still dies of it.
 */
export async function writeFileAtomically<T>(target: string, fill: (fd: number) => Promise<T>, mode = 0o644): Promise<T> {
  const temp = join(dirname(target), `.${basename(target)}.fsidmap-${randomBytes(6).toString('hex')}`);
  const fd = openSync(temp, 'wx', mode);
  let open = true;
  let present = true;
  const release = (): void => {
    if (open) { open = false; try { closeSync(fd); } catch { /* already closed */ } }
    if (present) { present = false; try { unlinkSync(temp); } catch { /* already gone */ } }
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
    // Make the rename itself durable.
    const dir = openSync(dirname(target), 'r');
    try { fsyncSync(dir); } finally { closeSync(dir); }
    return result;
  } finally {
    release();
    for (const s of signals) process.removeListener(s, onSignal);
  }
}
