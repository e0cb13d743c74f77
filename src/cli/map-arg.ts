import { readFileSync } from 'node:fs';
import { FsidmapError, fromSystemError, isSystemError } from '../errors.js';
import { clip } from './failure.js';
import { IdMap, isInlineSpec, parseMap } from '../idmap/index.js';

/**
 * A map argument is an inline spec (inner:outer:count[,…]), kernel map text
 * given literally ("0 100000 65536"), a file path, or `-` for stdin. This is
 * the only place that decides which, so every command takes maps the same way.
 */
export function readMapSource(
  arg: string,
  stdin: () => string = readStdin,
): { text: string; bytes: Buffer; origin: string; cut?: boolean } {
  if (arg === '-') {
    const text = stdin();
    if (stdinCut)
      return {
        text,
        bytes: Buffer.from(text, 'latin1'),
        origin: `standard input (more than ${text.length - 1} bytes; read no further)`,
        cut: true,
      };
    return { text, bytes: Buffer.from(text, 'latin1'), origin: 'standard input' };
  }
  if (isInlineSpec(arg)) {
    const text =
      arg
        .trim()
        .split(',')
        .map((t) => t.split(':').join(' '))
        .join('\n') + '\n';
    return { text, bytes: Buffer.from(text), origin: `inline spec "${arg}"` };
  }
  if (/^[\d\s]+$/.test(arg) && /\d\s+\d/.test(arg)) return { text: arg, bytes: Buffer.from(arg), origin: `map text "${arg.trim()}"` };
  try {
    const bytes = readFileSync(arg);
    return { text: bytes.toString('latin1'), bytes, origin: `file ${arg}` };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Only what looks like a path is reported as a missing file; "0:100000" is a mistyped inline spec.
    if (code === 'ENOENT' && looksInline(arg)) {
      throw new FsidmapError('ERR_USAGE', `MAP "${clip(arg)}" is not an inline spec: ${inlineProblem(arg)}`, {
        hint: 'an inline spec is inner:outer:count[,inner:outer:count…] of base-10 ids, e.g. 0:100000:65536',
        context: { map: clip(arg) },
      });
    }
    if (!isSystemError(e)) throw e;
    const sys = fromSystemError(e, { path: arg, doing: 'read map file', argument: 'MAP' });
    throw code === 'ENOENT'
      ? new FsidmapError(sys.code, sys.message, {
          cause: e,
          hint: 'a map is an inline spec like 0:100000:65536, map lines like "0 100000 65536", a file of map lines, or - for stdin',
          context: sys.context,
        })
      : sys;
  }
}

/** A colon and no slash: meant as inner:outer:count, not as a file name. */
function looksInline(arg: string): boolean {
  return arg.includes(':') && !arg.includes('/');
}

/** What is wrong with the first bad entry of a would-be inline spec. */
function inlineProblem(arg: string): string {
  const entries = arg.trim().split(',');
  for (const [i, entry] of entries.entries()) {
    const fields = entry.split(':');
    const where = entries.length === 1 ? `"${clip(entry, 60)}"` : `entry ${i + 1} "${clip(entry, 60)}"`;
    if (fields.length !== 3) return `${where} has ${fields.length} field${fields.length === 1 ? '' : 's'}, not 3 (inner:outer:count)`;
    const bad = fields.findIndex((f) => !/^\d+$/.test(f));
    if (bad >= 0) {
      const name = ['inner', 'outer', 'count'][bad];
      return `${where}: ${name} "${clip(fields[bad], 30)}" is not a base-10 number (no signs, spaces or 0x)`;
    }
  }
  return 'it has an empty entry or stray spaces';
}

/** Reads and parses a map argument; parse errors keep their ERR_IDMAP_* code and say where the map came from. */
export function readMapArg(arg: string, what: string, stdin?: () => string, options: { anyLines?: boolean } = {}): IdMap {
  const { text, origin, cut } = readMapSource(arg, stdin);
  if (cut)
    throw new FsidmapError('ERR_USAGE', `${what}: ${origin}: too long to be a map`, {
      hint: 'a map written to uid_map or gid_map is under 4096 bytes',
    });
  return parseMap(text, `${what} (${origin})`, options);
}

/**
 * Standard input, read once by the CLI entry (main.ts) before a command runs
 * when an argument is `-`, so several map arguments can share it and tests
 * can supply their own.
 */
let stdinText: string | undefined;
let stdinCut = false;
/** cut: the command's stdinLimit stopped the reading, and text is its first limit+1 bytes. */
export function provideStdin(input: { text: string; cut: boolean } | undefined): void {
  stdinText = input?.text;
  stdinCut = input?.cut ?? false;
}
function readStdin(): string {
  stdinText ??= readFileSync(0, 'latin1');
  return stdinText;
}
