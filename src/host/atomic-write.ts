import {
  closeSync,
  fchmodSync,
  fchownSync,
  fsyncSync,
  lstatSync,
  openSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FsidmapError } from '../errors.js';

/**
 * Replaces a file so that readers see either the whole old content or the
 * whole new one, and a crash leaves one of the two on disk: write a
 * temporary file in the same directory, fsync it, rename it over the target,
 * fsync the directory. The new file keeps the old one's mode and owner (a
 * new file gets `mode`, default 0644). A symlinked target is followed, as
 * shadow's lrename does, so the link stays a link.
 */
export interface AtomicWriteOptions {
  /** Mode for a file that does not exist yet (default 0o644). */
  readonly mode?: number;
}

export function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const target = resolveTarget(path);
  const dir = dirname(target);
  const tmp = join(dir, `.${basename(target)}.fsidmap-${process.pid}-${randomBytes(4).toString('hex')}`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  let old: { mode: number; uid: number; gid: number } | undefined;
  try {
    const st = statSync(target);
    old = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('stat', target, e);
  }
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o600);
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    // Owner before mode: fchown clears setuid bits, and mode must not be widened before the owner is right.
    if (old && (old.uid !== process.geteuid?.() || old.gid !== process.getegid?.())) fchownSync(fd, old.uid, old.gid);
    fchmodSync(fd, old ? old.mode : (options.mode ?? 0o644));
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, target);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already renamed or never created */
    }
    throw ioError('write', target, e);
  }
  fsyncDir(dir);
}

function resolveTarget(path: string): string {
  try {
    if (lstatSync(path).isSymbolicLink()) return realpathSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('stat', path, e);
  }
  return path;
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function ioError(op: string, path: string, e: unknown): FsidmapError {
  const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
  const hint =
    code === 'EACCES' || code === 'EPERM'
      ? `writing ${path} needs permission on its directory (root for /etc)`
      : code === 'ENOSPC'
        ? 'the file system is full; the old file is unchanged'
        : 'the old file is unchanged';
  return new FsidmapError('ERR_HOST_WRITE', `cannot ${op} ${path}: ${(e as Error).message}`, {
    hint,
    cause: e,
    context: { path, errno: code },
  });
}
