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
