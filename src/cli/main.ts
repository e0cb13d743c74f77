#!/usr/bin/env node
import { isFsidmapError } from '../errors.js';
import { type CommandIO, parseCommandArgs } from './command.js';
import { allCommandNames, findCommandName, loadAllCommands, loadCommand } from './commands/index.js';
import { provideStdin } from './map-arg.js';
import { envValue } from '../environment.js';

/** Codes that mean "you called it wrong": exit status 2, like a usage error. */
const USAGE_CODES = /^(ERR_USAGE|ERR_IDMAP_)/;

export async function main(argv: string[], io: CommandIO): Promise<number> {
  const words = argv.filter((a) => !a.startsWith('-'));
  const name = findCommandName(argv);
  if (!name) {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      io.stdout.write(await topHelp(argv[0] === 'help' ? argv.slice(1) : []));
      return 0;
    }
    if (argv[0] === '--version') {
      io.stdout.write('fsidmap 0.1.0\n');
      return 0;
    }
    const prefix = words.slice(0, 1).join(' ');
    const family = allCommandNames().filter((n) => n.startsWith(prefix + ' '));
    io.stderr.write(`fsidmap: unknown command "${words.slice(0, 2).join(' ')}"\n`);
    io.stderr.write(
      family.length > 0 ? `  ${prefix} has: ${family.map((n) => n.split(' ').slice(1).join(' ')).join(', ')}\n` : '  see fsidmap --help\n',
    );
    return 2;
  }
  const rest = argv.slice(name.split(' ').length);
  try {
    const command = await loadCommand(name);
    const args = parseCommandArgs(command, rest);
    if (args.values.help === true) {
      io.stdout.write(`${command.summary}\n\n${command.usage}\n`);
      return 0;
    }
    provideStdin(
      rest.slice(0, rest.indexOf('--') < 0 ? undefined : rest.indexOf('--')).includes('-') ? await readAll(io.stdin) : undefined,
    );
    return await command.run(args, io);
  } catch (e) {
    if (isFsidmapError(e)) {
      // With --json the error is machine-readable too: {"error":{"code","message","hint","context"}}.
      if ((rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest).includes('--json'))
        io.stderr.write(`${JSON.stringify({ error: e.toJSON() })}\n`);
      else {
        io.stderr.write(`fsidmap: ${e.message}\n`);
        if (e.hint) io.stderr.write(`  hint: ${e.hint}\n`);
      }
      if (envValue('FSIDMAP_DEBUG', io.env)) io.stderr.write(`${e.stack}\n`);
      return USAGE_CODES.test(e.code) ? 2 : 1;
    }
    io.stderr.write(`fsidmap: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
    return 70;
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
  return Buffer.concat(chunks).toString('latin1');
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
  const code = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    interactive: Boolean(process.stderr.isTTY),
  });
  process.exitCode = code;
}
