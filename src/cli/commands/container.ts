import { UsageError } from '../../errors.js';
import { type Command, defineCommand, flag, write } from '../command.js';

export const containerListCommand = defineCommand({
  name: 'container list',
  summary: 'the containers made from images: kept ones and those running',
  usage: `fsidmap container list [--json]

One line per container made with fsidmap run --image: its name, status
(running or stopped), image, and the id map it runs with now or ran with
last. A stopped container restarts with fsidmap run --name NAME on its own
writable layer. --json: [{"name","image","digest","status","keep","createdAt",
"lastStartedAt","uidMap","gidMap","pid"}].
State is under FSIDMAP_STATE_DIR (default /var/lib/fsidmap, or the user's
$XDG_STATE_HOME/fsidmap).`,
  options: { json: { type: 'boolean' } },
  async run(args, io) {
    if (args.positionals.length > 0) throw new UsageError('fsidmap container list takes no arguments');
    const { listContainers } = await import('../../container/index.js');
    const all = listContainers(io.env);
    if (flag(args, 'json')) {
      write(io.stdout, JSON.stringify(all));
      return 0;
    }
    if (all.length === 0) return 0;
    const rows = [['NAME', 'STATUS', 'IMAGE', 'UID MAP'], ...all.map((c) => [c.name, c.status, c.image, c.uidMap ?? '-'])];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    for (const r of rows) write(io.stdout, r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]))).join('  '));
    return 0;
  },
});

export const containerRmCommand = defineCommand({
  name: 'container rm',
  summary: 'remove stopped containers and their writable layers',
  usage: `fsidmap container rm [--json] NAME...

Removes each container and its writable layer (what it wrote), and lets its
image's layers be collected again. A running container is refused.
Exit status: 0 all removed; 1 one was running or unknown (the others are
removed). --json: {"removed":[NAME...],"errors":[{"name","code","message"}]}.`,
  options: { json: { type: 'boolean' } },
  async run(args, io) {
    if (args.positionals.length === 0) throw new UsageError('fsidmap container rm needs a NAME', 'fsidmap container list shows them');
    const c = await import('../../container/index.js');
    const glue = await import('./run-image.js');
    for (const n of args.positionals) c.checkName(n);
    const holds = await glue.imageHolds(io.env);
    const removed: string[] = [];
    const errors: Array<{ name: string; code: string; message: string }> = [];
    for (const name of args.positionals) {
      try {
        await c.removeContainer(name, io.env, holds);
        removed.push(name);
      } catch (e) {
        const err = e as { code?: string; message: string; hint?: string };
        errors.push({ name, code: err.code ?? 'ERR_INTERNAL', message: err.message });
        if (!flag(args, 'json')) {
          write(io.stderr, `fsidmap: ${err.message}`);
          if (err.hint) write(io.stderr, `  hint: ${err.hint}`);
        }
      }
    }
    if (flag(args, 'json')) write(io.stdout, JSON.stringify({ removed, errors }));
    else for (const n of removed) write(io.stdout, n);
    return errors.length === 0 ? 0 : 1;
  },
});

export const containerCommands: Command[] = [containerListCommand, containerRmCommand];
