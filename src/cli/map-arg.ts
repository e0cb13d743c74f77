import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { IdMap, isInlineSpec, parseMap } from '../idmap/index.js';

/**
 * A map argument is an inline spec (inner:outer:count[,…]), kernel map text
 * given literally ("0 100000 65536"), a file path, or `-` for stdin. This is
 * the only place that decides which, so every command takes maps the same way.
 */
export function readMapSource(arg: string, stdin: () => string = readStdin): { text: string; bytes: Buffer; origin: string } {
  if (arg === '-') {
    const text = stdin();
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
    throw new UsageError(
      `cannot read map "${arg}": ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      'a map is an inline spec like 0:100000:65536, map lines like "0 100000 65536", a file of map lines, or - for stdin',
    );
  }
}

/** Reads and parses a map argument; parse errors keep their ERR_IDMAP_* code and say where the map came from. */
export function readMapArg(arg: string, what: string, stdin?: () => string): IdMap {
  const { text, origin } = readMapSource(arg, stdin);
  return parseMap(text, `${what} (${origin})`);
}

/**
 * Standard input, read once by the CLI entry (main.ts) before a command runs
 * when an argument is `-`, so several map arguments can share it and tests
 * can supply their own.
 */
let stdinText: string | undefined;
export function provideStdin(text: string | undefined): void {
  stdinText = text;
}
function readStdin(): string {
  stdinText ??= readFileSync(0, 'latin1');
  return stdinText;
}
