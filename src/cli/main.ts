#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { type CommandIO, parseCommandArgs } from './command.js';
import { allCommandNames, findCommandName, loadAllCommands, loadCommand } from './commands/index.js';
import { EXIT, clip, reportFailure, wantsJson } from './failure.js';
import { provideStdin } from './map-arg.js';

export async function main(argv: string[], io: CommandIO): Promise<number> {
  const json = wantsJson(argv);
  try {
    return await dispatch(argv, io);
  } catch (e) {
    return reportFailure(e, io, { json });
  }
}

async function dispatch(argv: string[], io: CommandIO): Promise<number> {
  const name = findCommandName(argv);
  if (!name) return topLevel(argv, io);
  const rest = argv.slice(name.split(' ').length);
  const command = await loadCommand(name);
  const args = parseCommandArgs(command, rest);
  if (args.values.help === true) {
    io.stdout.write(`${command.summary}\n\n${command.usage}\n`);
    return EXIT.ok;
  }
  // `-` (standard input) as an argument or an option's value; after `--` only where `--` does not start a program's arguments.
  const own = command.keepsRest && rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  provideStdin(own.includes('-') ? await readAll(io.stdin, command.stdinLimit) : undefined);
  return await command.run(args, io);
}

/** No command named: help, the version, a command family's list, or an unknown command. */
async function topLevel(argv: string[], io: CommandIO): Promise<number> {
  const words = argv.filter((a) => !a.startsWith('-'));
  const flags = argv.filter((a) => a.startsWith('-'));
  const asksHelp = flags.includes('--help') || flags.includes('-h') || words[0] === 'help';
  if (words.length === 0 && (flags.includes('--version') || flags.includes('-V'))) return version(argv, io);
  if (words.length === 1 && words[0] === 'version') return version(argv, io);
  const filter = words[0] === 'help' ? words.slice(1) : words;
  const family = allCommandNames().filter((n) => filter.length > 0 && filter.every((w, i) => n.split(' ')[i] === w));
  if (asksHelp && (filter.length === 0 || family.length > 0)) {
    io.stdout.write(await topHelp(filter));
    return EXIT.ok;
  }
  if (argv.length === 0) {
    // Called with nothing to do: the usage goes to stderr and the status says so, as for any usage error.
    io.stderr.write(await topHelp([]));
    return EXIT.usage;
  }
  if (family.length > 0) {
    throw new UsageError(
      `fsidmap ${filter.join(' ')} needs a subcommand: ${family.map((n) => n.split(' ').slice(filter.length).join(' ')).join(', ')}`,
      `see fsidmap ${filter.join(' ')} --help`,
    );
  }
  if (words.length === 0) throw new UsageError(`no command given (got ${clip(flags.join(' '))})`, 'see fsidmap --help');
  const prefix = words[0];
  const siblings = allCommandNames().filter((n) => n.startsWith(prefix + ' '));
  throw new UsageError(
    `unknown command "${clip(words.slice(0, 2).join(' '))}"`,
    siblings.length > 0
      ? `${prefix} has: ${siblings.map((n) => n.split(' ').slice(1).join(' ')).join(', ')}`
      : 'see fsidmap --help for the commands',
  );
}

function version(argv: string[], io: CommandIO): number {
  if (wantsJson(argv)) io.stdout.write(`${JSON.stringify({ version: VERSION })}\n`);
  else io.stdout.write(`fsidmap ${VERSION}\n`);
  return EXIT.ok;
}

/** The version of the package this file ships in (dist/src/cli/main.js → package.json). */
const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

/**
 * Standard input for `-` map arguments, bounded: a map the kernel takes is at
 * most 4096 bytes, and even a normalized list of one-id lines fits well
 * within this; past it the input is not a map, and reading on would only
 * fill memory.
 */
const MAX_STDIN = 64 * 1024 * 1024;

async function readAll(stream: NodeJS.ReadableStream, limit?: number): Promise<{ text: string; cut: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    const b = typeof c === 'string' ? Buffer.from(c, 'latin1') : (c as Buffer);
    size += b.length;
    if (limit !== undefined && size > limit) {
      // Enough to answer: one byte past the limit, and no more read (the writer gets EPIPE).
      chunks.push(b.subarray(0, b.length - (size - limit) + 1));
      return { text: Buffer.concat(chunks).toString('latin1'), cut: true };
    }
    if (size > MAX_STDIN) {
      throw new UsageError(
        `standard input is more than ${MAX_STDIN / 1024 / 1024} MiB: too big to be a map`,
        'a map written to uid_map or gid_map is at most 4096 bytes; give the map itself, not something else',
      );
    }
    chunks.push(b);
  }
  return { text: Buffer.concat(chunks).toString('latin1'), cut: false };
}

async function topHelp(filter: string[]): Promise<string> {
  const shown = (await loadAllCommands()).filter((c) => filter.every((w, i) => c.name.split(' ')[i] === w));
  const width = Math.max(...shown.map((c) => c.name.length));
  return [
    'fsidmap: filesystem id mappings for Linux user namespaces',
    '',
    'usage: fsidmap COMMAND [OPTIONS] — fsidmap COMMAND --help for details',
    '',
    ...shown.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
  ].join('\n');
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${(await import('node:fs')).realpathSync(process.argv[1])}`).href;
if (isEntry) {
  // An error raised outside the command's promise (an unhandled stream 'error' event) is still reported, coded, once.
  const crash = (e: unknown) => {
    process.exitCode = reportFailure(e, { stderr: process.stderr, env: process.env }, { json: wantsJson(process.argv.slice(2)) });
    process.exit();
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  const code = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    interactive: Boolean(process.stderr.isTTY),
  });
  process.exitCode = code;
}
