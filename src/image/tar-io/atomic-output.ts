import { createWriteStream, unlinkSync, type WriteStream } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Writes a file so that it appears whole or not at all: the data goes to a
 * temporary file beside the target, which is fsynced and renamed over the
 * target only when `fill` succeeds. On failure, and on SIGINT/SIGTERM/SIGHUP
 * while writing, the temporary file is removed (its one owner is this
 * function), and the signal is then re-raised so the process still dies of it.
 */
export async function writeFileAtomically<T>(target: string, fill: (out: WriteStream) => Promise<T>, mode = 0o644): Promise<T> {
  const temp = join(dirname(target), `.${basename(target)}.fsidmap-${randomBytes(6).toString('hex')}`);
  const out = createWriteStream(temp, { flags: 'wx', mode, highWaterMark: 1 << 20 });
  let removed = false;
  const cleanupSync = (): void => {
    if (removed) return;
    removed = true;
    try { out.destroy(); } catch { /* already closed */ }
    try { unlinkSync(temp); } catch { /* never created */ }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    cleanupSync();
    removeHandlers();
    process.kill(process.pid, signal);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const removeHandlers = (): void => { for (const s of signals) process.removeListener(s, onSignal); };
  for (const s of signals) process.once(s, onSignal);
  try {
    await new Promise<void>((resolve, reject) => { out.once('open', () => resolve()); out.once('error', reject); });
    const result = await fill(out);
    if (!out.writableFinished) await new Promise<void>((resolve, reject) => { out.once('finish', resolve); out.once('error', reject); });
    const fh = await open(temp, 'r');
    try { await fh.sync(); } finally { await fh.close(); }
    await rename(temp, target);
    removed = true;
    // Make the rename itself durable.
    const dir = await open(dirname(target), 'r');
    try { await dir.sync(); } finally { await dir.close(); }
    return result;
  } catch (e) {
    if (!removed) {
      removed = true;
      out.destroy();
      await unlink(temp).catch(() => undefined);
    }
    throw e;
  } finally {
    removeHandlers();
  }
}
