import { asFsidmapError, clip, type FsidmapError } from '../errors.js';
import { envValue } from '../environment.js';
import type { CommandIO } from './command.js';

/**
 * How every command fails, in one place: the exit statuses, and how an error
 * is shown. Commands throw; they never print an error or pick an exit
 * status for one themselves.
 *
 * - 0: success; 1: refused or failed (the answer is "no", a file is
 *   the command needs is missing, the kernel said EPERM…); 2: called wrong
 *   (ERR_USAGE*, ERR_IDMAP_* of a MAP argument, a file named as an argument
 *   that cannot be read: context.argument);
 * - 70 (EX_SOFTWARE) only for a bug: an error that is neither an
 *   FsidmapError nor an operating-system error. Operating-system errors
 *   become coded errors (errors.ts fromSystemError) with the path, the errno
 *   and a hint; nothing reaches the user as a stack trace unless
 *   FSIDMAP_DEBUG is set.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, bug: 70 } as const;

/** Codes that mean "you called it wrong". */
const USAGE_CODES = /^(ERR_USAGE|ERR_IDMAP_)/;

/** Usage codes, and operating-system errors on a path given as an argument (a missing MAP file, ARCHIVE), exit 2. */
export function exitStatusFor(e: FsidmapError): number {
  return USAGE_CODES.test(e.code) || typeof e.context.argument === 'string' ? EXIT.usage : EXIT.failed;
}

/** True when the arguments ask for --json before any `--` (after it they belong to the program run). */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

export { clip } from '../errors.js';

/**
 * Writes the error to stderr — `fsidmap: MESSAGE` and `  hint: HINT`, or with
 * --json one line {"error":{"code","message","hint","context"}} — and returns
 * the exit status.
 */
export function reportFailure(e: unknown, io: Pick<CommandIO, 'stderr' | 'env'>, options: { json?: boolean } = {}): number {
  const known = asFsidmapError(e);
  const debug = Boolean(envValue('FSIDMAP_DEBUG', io.env));
  if (!known) {
    const text = e instanceof Error ? (debug ? (e.stack ?? e.message) : e.message) : String(e);
    if (options.json)
      io.stderr.write(`${JSON.stringify({ error: { code: 'ERR_INTERNAL', message: text, hint: BUG_HINT, context: {} } })}\n`);
    else io.stderr.write(`fsidmap: internal error: ${text}\n  hint: ${BUG_HINT}\n`);
    return EXIT.bug;
  }
  const message = bounded(known.message);
  const hint = known.hint ? bounded(known.hint) : known.hint;
  if (options.json) io.stderr.write(`${JSON.stringify({ error: { ...known.toJSON(), message, hint: hint ?? null } })}\n`);
  else {
    // Messages that already name the command ("fsidmap map check: …") are not prefixed twice.
    io.stderr.write(`${message.startsWith('fsidmap ') ? '' : 'fsidmap: '}${message}\n`);
    if (hint) io.stderr.write(`  hint: ${hint}\n`);
  }
  if (debug) io.stderr.write(`${(known.cause instanceof Error ? known.cause : known).stack}\n`);
  return exitStatusFor(known);
}

/**
 * What a message echoes of the input (a name, a path, a MAP) is made safe in
 * one place: control characters are escaped, so a name with a newline cannot
 * forge a line, and a word of more than 200 characters is cut, so a
 * 5,000-character argument cannot flood the terminal. The context of --json
 * keeps the input whole, escaped by JSON.
 */
export function bounded(text: string): string {
  return clip(text, Number.MAX_SAFE_INTEGER).replace(/\S{201,}/g, (w) => `${w.slice(0, 160)}… (${w.length} characters)`);
}

const BUG_HINT = 'this is a bug in fsidmap: rerun with FSIDMAP_DEBUG=1 for the stack, and report it with the command line';
