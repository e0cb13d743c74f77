import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { FsidmapError } from '../errors.js';

/**
 * A small runnable image made from the host's own programs (with the
 * libraries ldd names), stored on disk at offset+: what `fsidmap demo` and
 * the benchmark run, and the tests' toy image. Not a distribution: see the
 * Debian rootfs in the integration tests for that.
 */
export interface SampleImageOptions {
  /** On-disk owner of the image's uid/gid 0 (every entry is shifted by it). */
  readonly offset: number;
  /** Programs to copy from the host's PATH (default: sh and a few coreutils). */
  readonly programs?: readonly string[];
  /** Extra regular files under /data/files, to make the image as large as asked. */
  readonly files?: number;
}

export const SAMPLE_PROGRAMS = ['sh', 'ls', 'id', 'cat', 'touch', 'chown', 'chmod', 'stat', 'sleep', 'mkdir', 'rm', 'readlink', 'true'];

/** A program's file on PATH (not a shell builtin). */
export function whichProgram(p: string, path = process.env.PATH ?? '/usr/bin:/bin'): string {
  for (const dir of path.split(':')) {
    const f = join(dir, p);
    try {
      if (lstatSync(f).isFile() || lstatSync(f).isSymbolicLink()) return f;
    } catch {
      /* next */
    }
  }
  throw new FsidmapError('ERR_SAMPLE_PROGRAM_MISSING', `${p} is not on PATH`, { hint: 'the sample image copies programs from the host' });
}

/** Copies program (and the libraries ldd lists) into root at the same paths; /usr/bin/NAME always exists. */
export function copyProgram(root: string, program: string): void {
  const path = realpathSync(whichProgram(program));
  copyExecutable(root, path, path);
  const link = join(root, 'usr/bin', program);
  if (path !== `/usr/bin/${program}` && !existsSync(link)) {
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(path, link);
  }
}

/** Copies the host's executable hostPath to inImage inside root, with the shared libraries ldd lists (at their own paths). */
export function copyExecutable(root: string, hostPath: string, inImage: string): void {
  const into = (src: string, dstInImage: string) => {
    const dst = join(root, dstInImage);
    if (existsSync(dst)) return;
    mkdirSync(dirname(dst), { recursive: true });
    copyFileSync(realpathSync(src), dst);
    chmodSync(dst, 0o755);
  };
  into(hostPath, inImage);
  const ldd = spawnSync('ldd', [hostPath], { encoding: 'utf8' }).stdout ?? '';
  for (const m of ldd.matchAll(/(\/[^\s)]+)/g)) into(m[1], m[1]);
}

/** Builds the image in root (which must exist) and returns the number of entries, root included. */
export function makeSampleImage(root: string, options: SampleImageOptions): number {
  for (const d of ['usr/bin', 'proc', 'dev', 'tmp', 'etc', 'root', 'data']) mkdirSync(join(root, d), { recursive: true });
  if (!existsSync(join(root, 'bin'))) symlinkSync('usr/bin', join(root, 'bin'));
  for (const p of options.programs ?? SAMPLE_PROGRAMS) copyProgram(root, p);
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\n');
  chmodSync(join(root, 'root'), 0o700);
  if (options.files) {
    // 1,000 per directory, as real trees are spread out.
    for (let i = 0; i < options.files; i++) {
      const dir = join(root, 'data/files', String(Math.floor(i / 1000)));
      if (i % 1000 === 0) mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `f${i}`), '');
    }
  }
  return shiftTree(root, options.offset);
}

/** lchown of every entry to offset+0 (what a fresh, unprivileged-looking image stored at offset has). */
function shiftTree(root: string, offset: number): number {
  let n = 0;
  const walk = (p: string) => {
    lchownSync(p, offset, offset);
    n++;
    if (lstatSync(p).isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
  };
  walk(root);
  // chown clears setuid bits; none of the copied programs has one, so modes are as copied.
  return n;
}
