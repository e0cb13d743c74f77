import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { FsidmapError } from '../errors.js';
import { tryLockExclusive } from '../kernel/file/inode.js';
import { type JournalHeader, decodeJournal, encodeJournal } from './journal-codec.js';
import type { ShiftPlan } from './plan.js';
import { ROOT_STATE_DIR, stateDir } from '../environment.js';

/**
 * Where an interrupted shift is remembered: STATE_DIR/shift/KEY.{lock,journal,progress},
 * KEY being a hash of the tree's real path, so running the same command again
 * finds it. STATE_DIR is /var/lib/fsidmap unless FSIDMAP_STATE_DIR or the
 * stateDir option says otherwise.
 *
 * - lock: flock'ed for the whole run, so two shifts of one tree never interleave
 *   (the kernel drops it when the process dies, kill -9 included).
 * - journal: the complete plan, written to a temporary file, fsynced and renamed
 *   before the first change, with a CRC-32 trailer.
 * - progress: the ranges of rows not yet known to be done, replaced
 *   atomically at checkpoints, each taken after syncfs() on the tree so that
 *   what it calls done is on disk.
 */
export const DEFAULT_STATE_DIR = ROOT_STATE_DIR;

export function stateDirFrom(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return option ?? stateDir(env);
}

export type Range = readonly [start: number, end: number];

export class ShiftState {
  readonly journalPath: string;
  private readonly progressPath: string;
  private readonly donePath: string;
  private readonly dir: string;
  private lockFd: number | null;

  private constructor(dir: string, key: string, lockFd: number) {
    this.dir = dir;
    this.journalPath = join(dir, `${key}.journal`);
    this.progressPath = join(dir, `${key}.progress`);
    this.donePath = join(dir, `${key}.done`);
    this.lockFd = lockFd;
  }

  /** Takes the tree's lock; ERR_SHIFT_BUSY when another fsidmap holds it. */
  static open(stateDir: string, rootBytes: string, rootText: string): ShiftState {
    const dir = join(stateDir, 'shift');
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new FsidmapError('ERR_SHIFT_STATE_DIR', `cannot create the state directory ${dir}: ${(e as Error).message}`, {
        hint: 'shifting needs a writable state directory for its journal: run as root or set FSIDMAP_STATE_DIR',
        cause: e,
      });
    }
    const key = journalKey(rootBytes);
    const fd = openSync(join(dir, `${key}.lock`), 'a', 0o600);
    if (!tryLockExclusive(fd, join(dir, `${key}.lock`))) {
      closeSync(fd);
      throw new FsidmapError('ERR_SHIFT_BUSY', `another fsidmap is shifting ${rootText} right now`, {
        context: { path: rootText },
        hint: 'wait for it to finish',
      });
    }
    return new ShiftState(dir, key, fd);
  }

  /** Looks for a pending journal without taking the lock (for --dry-run). */
  static peek(stateDir: string, rootBytes: string): { header: JournalHeader; plan: ShiftPlan } | null {
    return readJournalFile(join(stateDir, 'shift', `${journalKey(rootBytes)}.journal`));
  }

  readJournal(): { header: JournalHeader; plan: ShiftPlan } | null {
    return readJournalFile(this.journalPath);
  }

  /** Writes the journal; returns its size in bytes. */
  writeJournal(header: JournalHeader, plan: ShiftPlan): number {
    const body = encodeJournal(header, plan);
    const trailer = Buffer.alloc(4);
    trailer.writeUInt32LE(crc32(body));
    atomicWrite(this.journalPath, [body, trailer], this.dir);
    return body.length + trailer.length;
  }

  /** Pending ranges, or null when no checkpoint was taken (everything is pending). */
  readProgress(): Range[] | null {
    let text: string;
    try {
      text = readFileSync(this.progressPath, 'utf8');
    } catch {
      return null;
    }
    const parsed = JSON.parse(text) as { pending: Range[] };
    return parsed.pending;
  }

  writeProgress(pending: readonly Range[]): void {
    atomicWrite(this.progressPath, [Buffer.from(JSON.stringify({ pending }) + '\n')], this.dir);
  }

  /** The record of the last completed shift of this tree, if any. */
  readDone(): DoneRecord | null {
    return readDoneFile(this.donePath);
  }

  static peekDone(stateDir: string, rootBytes: string): DoneRecord | null {
    return readDoneFile(join(stateDir, 'shift', `${journalKey(rootBytes)}.done`));
  }

  /**
   * The shift is complete and on disk: record that (so a run killed after the
   * last step is not taken for one that never started), then drop the journal.
   */
  finish(done: DoneRecord): void {
    atomicWrite(this.donePath, [Buffer.from(JSON.stringify(done) + '\n')], this.dir);
    for (const p of [this.progressPath, this.journalPath]) {
      try {
        unlinkSync(p);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    fsyncDir(this.dir);
  }

  release(): void {
    if (this.lockFd === null) return;
    closeSync(this.lockFd);
    this.lockFd = null;
  }
}

export interface DoneRecord {
  readonly map: string;
  readonly direction: 'down' | 'up';
  readonly unmapped: unknown;
  readonly crossFilesystems: boolean;
  /** Absent in records written before it existed ('keep-v2'). */
  readonly capabilities?: string;
  readonly finished: string;
  readonly fingerprint: string;
}

function readDoneFile(path: string): DoneRecord | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as DoneRecord;
  } catch {
    return null;
  }
}

export function journalKey(rootBytes: string): string {
  return createHash('sha256').update(Buffer.from(rootBytes, 'latin1')).digest('hex').slice(0, 32);
}

function readJournalFile(path: string): { header: JournalHeader; plan: ShiftPlan } | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const body = bytes.subarray(0, bytes.length - 4);
  if (bytes.length < 4 || crc32(body) !== bytes.readUInt32LE(bytes.length - 4)) {
    throw new FsidmapError('ERR_SHIFT_JOURNAL_CORRUPT', `the shift journal ${path} fails its checksum`, {
      hint: 'the tree may be partly shifted; inspect it with `fsidmap image inspect` before deciding what to do',
    });
  }
  return decodeJournal(body);
}

/** Write to NAME.tmp, fsync, rename over NAME, fsync the directory. */
function atomicWrite(path: string, parts: Uint8Array[], dir: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    for (const p of parts) {
      let off = 0;
      while (off < p.length) off += writeSync(fd, p, off, p.length - off);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(dir);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
