import { UsageError } from '../../errors.js';
import { type Command, defineCommand, flag, str, write, writeJson } from '../command.js';

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

export const commitCommand = defineCommand({
  name: 'commit',
  summary: "make a stopped container's writable layer a new image: its image's layers plus one",
  usage: `fsidmap commit [--json] [--message M] CONTAINER [NAME[:TAG]]

Writes what the kept container CONTAINER changed (its writable layer) as one
OCI layer tar (deletions as .wh. whiteouts, opaque directories as
.wh..wh..opq, owners as stored: the image's ids, whatever range it ran in)
and stores a new image of its image's layers plus that one, named NAME:TAG
when given. The same changes over the same image give the same digests.
The container is reserved while it is committed: a running one is refused,
and it cannot be started meanwhile. Export the result with fsidmap image
export. A kill at any point leaves the store as it was (image gc removes the
leftovers) or with the whole new image.

  --message M   recorded in the new config's history ("fsidmap commit: M")
  --json        {"container","base","digest","ref","diffId","upper":{"entries","whiteouts","opaqueDirs","bytes"},...}

Exit status: 0 committed; 1 refused (running, unknown, its image gone) or failed; 2 usage error.`,
  options: { json: { type: 'boolean' }, message: { type: 'string' } },
  async run(args, io) {
    if (args.positionals.length < 1 || args.positionals.length > 2)
      throw new UsageError('fsidmap commit takes CONTAINER and an optional NAME[:TAG]', 'see fsidmap commit --help');
    const [name, ref] = args.positionals;
    const c = await import('../../container/index.js');
    const glue = await import('./run-image.js');
    c.checkName(name);
    if (ref !== undefined) {
      const { parseImageName } = await import('../../image/index.js');
      parseImageName(ref, 'NAME[:TAG]');
    }
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const message = str(args, 'message');
      const r = await c.commitContainer(glue.containerStore(io.env), name, ref, {
        env: io.env,
        signal: controller.signal,
        ...(message !== undefined ? { message } : {}),
      });
      if (flag(args, 'json')) writeJson(io, r);
      else
        write(
          io.stdout,
          `committed ${name} as ${r.ref ?? r.digest} (${r.digest}): layer ${r.diffId}, ${r.upper.entries} entries, ${r.upper.whiteouts} whiteouts, ${r.upper.opaqueDirs} opaque dirs`,
        );
      return 0;
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
  },
});

export const containerCommands: Command[] = [containerListCommand, containerRmCommand, commitCommand];
