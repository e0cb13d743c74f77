import { readFileSync } from 'node:fs';
import { clip, UsageError } from '../../errors.js';
import { defineCommand, type Command } from '../command.js';
import { bashCompletion } from '../completion-bash.js';
import { commandManPage, topManPage } from '../man-roff.js';

/**
 * `completion` and `man`, generated from the command definitions themselves.
 * The definitions come in through `all` (index.ts passes its loadAllCommands)
 * rather than an import of index.ts, which lists this module: no cycle.
 */
export function docsGenCommands(all: () => Promise<readonly Command[]>): Command[] {
  return [
    defineCommand({
      name: 'completion',
      summary: 'print a shell completion script for fsidmap (bash)',
      usage: `fsidmap completion bash

Prints a bash completion script: command words (map check, image import, …)
and each command's long options; other words complete as file names.
Load it in the current shell with
  source <(fsidmap completion bash)
or install it as /usr/share/bash-completion/completions/fsidmap.`,
      options: {},
      async run(args, io) {
        const [shell, extra] = args.positionals;
        if (shell !== 'bash' || extra !== undefined) {
          throw new UsageError(
            shell === undefined
              ? 'fsidmap completion needs a shell: bash'
              : `fsidmap completion: ${extra === undefined ? `no completion for shell "${clip(shell)}"` : `one shell only, got "${clip(extra)}" too`}`,
            'bash is the one shell supported: fsidmap completion bash',
          );
        }
        io.stdout.write(bashCompletion(await all()));
        return 0;
      },
    }),
    defineCommand({
      name: 'man',
      summary: 'print the man page of fsidmap, or of one command, in roff',
      usage: `fsidmap man [COMMAND]

Prints fsidmap(1), which lists every command, or with COMMAND (one or two
words: man map check) that command's page, fsidmap-map-check(1), in roff.
Read one with
  fsidmap man map check | man -l -`,
      options: {},
      async run(args, io) {
        const commands = await all();
        const wanted = args.positionals.join(' ');
        if (wanted === '') {
          io.stdout.write(topManPage(commands, VERSION));
          return 0;
        }
        const command = commands.find((c) => c.name === wanted || `fsidmap-${c.name.replace(/ /g, '-')}` === wanted);
        if (!command) throw new UsageError(`fsidmap man: no command "${clip(wanted)}"`, 'see fsidmap --help for the commands');
        io.stdout.write(commandManPage(command, VERSION));
        return 0;
      },
    }),
  ];
}

/** The version of the package (dist/src/cli/commands/docs-gen.js → package.json), for the pages' footer. */
const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();
