/**
 * The one error class of fsidmap. Callers match on `code`, never on the text;
 * the CLI maps codes to exit statuses. `context` carries the facts a message
 * was built from (line, extent, path, syscall, errno) so machines need not
 * parse prose.
 */
export type ErrorContext = Record<string, unknown>;

export class FsidmapError extends Error {
  readonly code: string;
  readonly context: ErrorContext;
  /** What the user can do about it; printed after the message by the CLI. */
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: { context?: ErrorContext; hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FsidmapError';
    this.code = code;
    this.context = options.context ?? {};
    this.hint = options.hint;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint ?? null, context: this.context };
  }
}

/** A mistake in how fsidmap was called (bad flag, bad argument): exit status 2 at the CLI. */
export class UsageError extends FsidmapError {
  constructor(message: string, hint?: string) {
    super('ERR_USAGE', message, hint === undefined ? {} : { hint });
    this.name = 'UsageError';
  }
}

export function isFsidmapError(e: unknown): e is FsidmapError {
  return e instanceof FsidmapError;
}

/**
 * What an operating-system error on a path means to someone who typed that
 * path, and what to do: one row per errno a user's input can cause. The
 * code is what scripts match on; the errno stays in the context.
 */
const SYSTEM_ERRORS: Readonly<Record<string, { code: string; says: string; hint: string }>> = {
  ENOENT: {
    code: 'ERR_NOT_FOUND',
    says: 'no such file or directory',
    hint: 'check the path (it is taken relative to the current directory)',
  },
  ENOTDIR: { code: 'ERR_NOT_A_DIRECTORY', says: 'a part of the path is not a directory', hint: 'check the path' },
  EISDIR: { code: 'ERR_IS_A_DIRECTORY', says: 'it is a directory', hint: 'give a file, not a directory' },
  EACCES: {
    code: 'ERR_PERMISSION_DENIED',
    says: 'permission denied',
    hint: 'check the permissions of the path and of its directories, or run as a user who may (its owner, or root)',
  },
  EPERM: {
    code: 'ERR_PERMISSION_DENIED',
    says: 'operation not permitted',
    hint: 'this needs a privilege the caller lacks: run as root, or through the fsidmap broker',
  },
  EEXIST: { code: 'ERR_EXISTS', says: 'it already exists', hint: 'remove it first, or choose another path' },
  ENOTEMPTY: { code: 'ERR_NOT_EMPTY', says: 'the directory is not empty', hint: 'give an empty or a new directory' },
  EROFS: { code: 'ERR_READ_ONLY_FS', says: 'the file system is read-only', hint: 'choose a path on a writable file system' },
  ENOSPC: { code: 'ERR_NO_SPACE', says: 'no space left on the device', hint: 'free space on that file system, or choose another' },
  EDQUOT: { code: 'ERR_NO_SPACE', says: 'disk quota exceeded', hint: 'free space within your quota, or choose another file system' },
  ELOOP: { code: 'ERR_SYMLINK_LOOP', says: 'too many levels of symbolic links', hint: 'check the symbolic links along the path' },
  ENAMETOOLONG: { code: 'ERR_NAME_TOO_LONG', says: 'the path is too long', hint: 'use a shorter path' },
  EBUSY: { code: 'ERR_BUSY', says: 'it is busy (in use, or a mount point)', hint: 'stop what uses it, then retry' },
  EXDEV: { code: 'ERR_CROSS_DEVICE', says: 'it is on another file system', hint: 'keep the paths on one file system' },
  EMFILE: { code: 'ERR_TOO_MANY_FILES', says: 'too many open files', hint: 'raise the open-file limit (ulimit -n)' },
  ENFILE: { code: 'ERR_TOO_MANY_FILES', says: 'too many open files on the system', hint: 'retry when fewer files are open' },
  EIO: { code: 'ERR_IO', says: 'input/output error', hint: 'the device reported an error: check it (dmesg)' },
  EFBIG: { code: 'ERR_FILE_TOO_BIG', says: 'the file is too big', hint: 'check the file system and the file-size limit (ulimit -f)' },
  EPIPE: { code: 'ERR_PIPE_CLOSED', says: 'the reader of the output went away', hint: 'the output pipe was closed early' },
};

/** A Node.js operating-system error: an `E…` code and the syscall or errno that raised it. */
export function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  if (!(e instanceof Error) || e instanceof FsidmapError) return false;
  const x = e as NodeJS.ErrnoException;
  return typeof x.code === 'string' && /^E[A-Z0-9]+$/.test(x.code) && (typeof x.errno === 'number' || typeof x.syscall === 'string');
}

/**
 * An operating-system error turned into a coded one that names the path, the
 * errno and what to do: "cannot open /x: no such file or directory (ENOENT)".
 * `doing` says what fsidmap was doing ("read the tar layer"), when the
 * syscall alone would not tell the user. `argument` names the command-line
 * argument the path came from (MAP, ARCHIVE…): then the error is the
 * caller's mistake, and the CLI exits 2 as for any usage error.
 */
export function fromSystemError(
  e: NodeJS.ErrnoException,
  options: { path?: string; doing?: string; argument?: string } = {},
): FsidmapError {
  const errno = e.code ?? 'EUNKNOWN';
  const known = SYSTEM_ERRORS[errno];
  const path = options.path ?? e.path;
  const doing = options.doing ?? (e.syscall ? `${e.syscall}` : 'use');
  const says = known?.says ?? e.message.replace(/^E[A-Z0-9]+: /, '').replace(/, \w+ '.*'$/, '');
  return new FsidmapError(known?.code ?? 'ERR_SYSTEM', `cannot ${doing}${path ? ` ${path}` : ''}: ${says} (${errno})`, {
    cause: e,
    hint: known?.hint ?? 'see the errno in the message',
    context: {
      ...(path ? { path } : {}),
      ...(e.syscall ? { syscall: e.syscall } : {}),
      errno,
      ...(options.argument ? { argument: options.argument } : {}),
    },
  });
}

/** Any error as an FsidmapError when it is one or an operating-system error; undefined for a bug. */
export function asFsidmapError(e: unknown): FsidmapError | undefined {
  if (isFsidmapError(e)) return e;
  if (isSystemError(e)) return fromSystemError(e);
  return undefined;
}

/** Echoed input is cut short and made printable: a 5,000-character name or one with a newline must not flood or forge lines. */
export function clip(text: string, max = 200): string {
  const printable = text.replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029]/g, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16)}`;
  });
  return printable.length > max ? `${printable.slice(0, max)}… (${printable.length} characters)` : printable;
}
