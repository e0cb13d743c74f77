import { lstatSync, readFileSync } from 'node:fs';
import { FsidmapError } from '../errors.js';
import { type AddOptions, addSubidRange, removeSubidRange, type SubidEdit } from '../policy/subid-edit.js';
import { parseSubidDb, type SubidDb } from '../policy/subid-db.js';
import { writeFileAtomic } from './atomic-write.js';
import { type LockOptions, lockShadowFile } from './shadow-lock.js';

/**
 * /etc/subuid and /etc/subgid on disk: read with the facts the audit needs
 * (missing, symlink, mode, owner, NUL bytes), and changed under shadow's
 * lock with an atomic replace, so usermod and fsidmap never interleave and a
 * reader never sees half a file.
 */

export interface SubidFileRead {
  readonly path: string;
  readonly state: 'present' | 'missing' | 'symlink';
  /** The content as latin1 (one char per byte); null when missing. */
  readonly text: string | null;
  readonly db: SubidDb | null;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly hasNul?: boolean;
}

export function readSubidFile(path: string): SubidFileRead {
  let state: SubidFileRead['state'] = 'present';
  let st;
  try {
    st = lstatSync(path);
    if (st.isSymbolicLink()) state = 'symlink';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { path, state: 'missing', text: null, db: null };
    throw readError(path, e);
  }
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (e) {
    // A dangling symlink: shadow cannot open it either.
    if (state === 'symlink' && (e as NodeJS.ErrnoException).code === 'ENOENT') return { path, state, text: null, db: null };
    throw readError(path, e);
  }
  return { path, state, text, db: parseSubidDb(text), mode: st.mode, uid: st.uid, gid: st.gid, hasNul: text.includes('\0') };
}

/** The database newuidmap would use: null when it could not open the file (missing, or a symlink: O_NOFOLLOW). */
export function shadowView(read: SubidFileRead): SubidDb | null {
  return read.state === 'present' ? read.db : null;
}

export interface EditOptions extends LockOptions {
  /** Take shadow's lock around read-modify-write (default true). */
  readonly lock?: boolean;
}

/** Read, change and atomically replace a subordinate-id file under shadow's lock. A missing file is created (mode 0644). */
export function editSubidFile(path: string, change: (text: string) => SubidEdit, options: EditOptions = {}): SubidEdit {
  const lock = options.lock === false ? undefined : lockShadowFile(path, options);
  try {
    const current = readSubidFile(path);
    const edit = change(current.text ?? '');
    if (edit.changed) writeFileAtomic(path, edit.text, { mode: 0o644 });
    return edit;
  } finally {
    lock?.release();
  }
}

export interface FileAddOptions extends EditOptions, AddOptions {}

/** usermod --add-subuids for one range: append "owner:start:count" unless the owner already has it. */
export function addSubidRangeToFile(
  path: string,
  owner: string,
  start: number | bigint,
  count: number | bigint,
  options: FileAddOptions = {},
): SubidEdit {
  const addOptions: AddOptions = { ...(options.accounts ? { accounts: options.accounts } : {}), ...(options.join ? { join: true } : {}) };
  return editSubidFile(path, (text) => addSubidRange(text, owner, BigInt(start), BigInt(count), addOptions), options);
}

/** usermod --del-subuids for one range: trim, split or delete the owner's entries covering it. */
export function removeSubidRangeFromFile(
  path: string,
  owner: string,
  start: number | bigint,
  count: number | bigint,
  options: EditOptions = {},
): SubidEdit {
  return editSubidFile(path, (text) => removeSubidRange(text, owner, BigInt(start), BigInt(count)), options);
}

function readError(path: string, e: unknown): FsidmapError {
  const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
  return new FsidmapError('ERR_HOST_READ', `cannot read ${path}: ${(e as Error).message}`, {
    hint:
      code === 'EACCES'
        ? `${path} is not readable by this user`
        : code === 'EISDIR'
          ? `${path} is a directory; give the file`
          : 'check the path',
    cause: e,
    context: { path, errno: code },
  });
}
