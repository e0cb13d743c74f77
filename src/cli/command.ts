import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';

/**
 * What a command gets: streams instead of process globals, so commands run
 * the same in tests and in the binary.
 */
export interface CommandIO {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
  readonly env: NodeJS.ProcessEnv;
  /** True when stderr is a terminal: progress bars go there, never into pipes. */
  readonly interactive: boolean;
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface ParsedArgs {
  readonly values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  readonly positionals: string[];
  /** Everything after a bare `--`, untouched (for `run -- CMD ARGS`). */
  readonly rest: string[];
}

export interface Command {
  /** Words that select the command, e.g. "map check". */
  readonly name: string;
  readonly summary: string;
  /** Usage lines and option descriptions, printed by --help. */
  readonly usage: string;
  readonly options: OptionSpec;
  /**
   * True for a command that runs a program (`run … -- CMD ARGS`): what follows
   * `--` is its `rest`. For every other command `--` only ends the options,
   * and what follows it are positionals (`map check -- -1:0:1`).
   */
  readonly keepsRest?: boolean;
  /**
   * True for `exec NAME CMD ARGS`: options end at the first positional, and
   * NAME is the only positional; what follows it is `rest`, untouched.
   */
  readonly stopsAtPositional?: boolean;
  /** The most bytes of standard input a `-` argument may bring; more is not read (map-arg.ts says it was cut). */
  readonly stdinLimit?: number;
  run(args: ParsedArgs, io: CommandIO): Promise<number>;
}

export function defineCommand(c: Command): Command {
  return c;
}

/** util.parseArgs in strict mode, with its errors turned into usage errors that name the command. */
export function parseCommandArgs(command: Command, argv: string[]): ParsedArgs {
  if (command.stopsAtPositional) {
    const at = firstPositional(command, argv);
    if (at >= 0) {
      const head = parseCommandArgs({ ...command, stopsAtPositional: false, keepsRest: false }, argv.slice(0, at + 1));
      return { values: head.values, positionals: head.positionals, rest: argv.slice(at + 1) };
    }
  }
  const dashdash = argv.indexOf('--');
  const head = dashdash < 0 ? argv : argv.slice(0, dashdash);
  const rest = dashdash < 0 ? [] : argv.slice(dashdash + 1);
  try {
    const { values, positionals } = parseArgs({
      args: head,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return command.keepsRest
      ? { values: values as ParsedArgs['values'], positionals, rest }
      : { values: values as ParsedArgs['values'], positionals: [...positionals, ...rest], rest: [] };
  } catch (e) {
    const msg = e instanceof Error ? e.message.replace(/\. To specify a positional argument.*$/s, '') : String(e);
    throw new UsageError(`fsidmap ${command.name}: ${msg}`, `see fsidmap ${command.name} --help`);
  }
}

/** The index of the first argument that is neither an option nor an option's value (after `--`, the one following it). */
function firstPositional(command: Command, argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (!a.startsWith('-') || a === '-') return i;
    if (a.startsWith('--')) {
      const spec = command.options[a.slice(2)];
      if (spec?.type === 'string' && !a.includes('=')) i++;
    } else {
      const short = Object.values(command.options).find((o) => o.short === a[1]);
      if (short?.type === 'string' && a.length === 2) i++;
    }
  }
  return -1;
}

/** Typed accessors: options are validated once here, then trusted. */
export function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function strs(args: ParsedArgs, name: string): string[] {
  const v = args.values[name];
  return Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : [];
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

export function requireStr(args: ParsedArgs, name: string, command: string): string {
  const v = str(args, name);
  if (v === undefined) throw new UsageError(`fsidmap ${command}: --${name} is required`, `see fsidmap ${command} --help`);
  return v;
}

/** A base-10 u32 from an argument, or a usage error naming the option and the value. */
export function u32Arg(value: string, what: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 4294967295) {
    throw new UsageError(`${what} must be a decimal id between 0 and 4294967295, got "${value}"`);
  }
  return Number(value);
}

export function write(stream: NodeJS.WritableStream, text: string): void {
  stream.write(text.endsWith('\n') || text === '' ? text : text + '\n');
}

export function writeJson(io: CommandIO, value: unknown): void {
  io.stdout.write(JSON.stringify(value) + '\n');
}
