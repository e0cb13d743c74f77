import { writeFileAtomic } from '../../host/atomic-write.js';
import { UsageError } from '../../errors.js';
import { type ListenSpec, parseListen, renderReport, serve } from '../../serve/index.js';
import { type Command, type ParsedArgs, defineCommand, flag, str, write, writeJson } from '../command.js';

const SOURCE_HELP = `  --db PATH|URL      the registry: a SQLite file or postgres://user@host/db, opened
                     read-only (default: FSIDMAP_DB, else /var/lib/fsidmap/registry.db
                     for root, $XDG_STATE_HOME/fsidmap/registry.db for others)
  --realm NAME       the id space to show (default "default")
  --root DIR         read passwd, group, subuid and subgid under DIR instead of /`;

const sourceOptions = { db: { type: 'string' }, realm: { type: 'string' }, root: { type: 'string' }, json: { type: 'boolean' } } as const;

function source(args: ParsedArgs): { db?: string; realm?: string; root?: string } {
  const db = str(args, 'db');
  const realm = str(args, 'realm');
  const root = str(args, 'root');
  return { ...(db !== undefined ? { db } : {}), ...(realm !== undefined ? { realm } : {}), ...(root !== undefined ? { root } : {}) };
}

function noPositionals(args: ParsedArgs, command: string): void {
  if (args.positionals.length > 0)
    throw new UsageError(`fsidmap ${command}: unexpected argument "${args.positionals[0]}"`, `see fsidmap ${command} --help`);
}

function listenArg(args: ParsedArgs): ListenSpec | undefined {
  const listen = str(args, 'listen');
  const socket = str(args, 'socket');
  if (listen !== undefined && socket !== undefined)
    throw new UsageError('--listen and --socket exclude each other', 'give one place to listen');
  if (socket !== undefined) {
    if (socket === '') throw new UsageError('--socket must name a path');
    return { kind: 'unix', path: socket };
  }
  return listen === undefined ? undefined : parseListen(listen);
}

function intervalArg(args: ParsedArgs): number | undefined {
  const v = str(args, 'interval');
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 100 || Number(v) > 3600000)
    throw new UsageError(`--interval must be milliseconds from 100 to 3600000, got "${v}"`);
  return Number(v);
}

export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'serve a live, read-only web page of who holds which ids',
  usage: `fsidmap serve [--listen HOST:PORT | --socket PATH] [--db PATH|URL] [--realm NAME]
              [--root DIR] [--interval MS] [--json]

Serves one page: the 32-bit id space as a zoomable strip (allocations,
subordinate ranges, users and groups, reserved ranges, audit findings),
the pool's occupancy and fragmentation over time, the running containers,
the findings of subid audit, and a search that answers as fsidmap who. It
follows the registry and /etc without reloading (server-sent events).
Read-only: the registry is opened read-only (an ordinary user with read
access to it is enough), and only GET is served. Runs until SIGINT or
SIGTERM. Prints the URL (stdout), --json {"url","listen","local","readOnly"}.

  --listen HOST:PORT  where to listen (default 127.0.0.1:0: a free loopback port).
                      An address other machines reach is served only when
                      named here, with a warning: the page has no login.
  --socket PATH       listen on a Unix socket (mode 0600) instead
  --interval MS       how often to look for changes (default 1000)
${SOURCE_HELP}
Exit status: 0 stopped by a signal, 1 could not start (registry unreadable,
address in use), 2 usage error.`,
  options: { ...sourceOptions, listen: { type: 'string' }, socket: { type: 'string' }, interval: { type: 'string' } },
  async run(args, io) {
    noPositionals(args, 'serve');
    const listen = listenArg(args);
    const intervalMs = intervalArg(args);
    const s = await serve({
      ...source(args),
      env: io.env,
      ...(listen ? { listen } : {}),
      ...(intervalMs !== undefined ? { intervalMs } : {}),
    });
    // The handlers go in before the URL is printed: whoever waits for the URL may signal at once.
    const stopped = new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    if (!s.local) {
      write(
        io.stderr,
        `fsidmap serve: WARNING: listening on ${s.url}, an address other machines can reach. The page has no login: ` +
          'anyone who reaches it sees every allocation, user, group and subordinate range of this host. Use --listen 127.0.0.1:PORT or --socket unless that is what you want.',
      );
    }
    if (flag(args, 'json')) writeJson(io, { url: s.url, listen: s.listen, local: s.local, readOnly: s.registry.info.readOnly });
    else write(io.stdout, s.url);
    if (io.interactive)
      write(io.stderr, `fsidmap serve: ${s.registry.info.store} registry ${s.registry.info.location}, read-only; Ctrl-C stops`);
    await stopped;
    await s.close();
    return 0;
  },
});

export const reportCommand = defineCommand({
  name: 'report',
  summary: 'write the id-space page as one self-contained HTML file',
  usage: `fsidmap report --html FILE [--db PATH|URL] [--realm NAME] [--root DIR] [--json]

Writes what fsidmap serve shows, as it is now, into FILE (- for stdout):
one HTML file with its script, style and data inside, that loads nothing
from anywhere (its Content-Security-Policy forbids it), for a ticket or a
mail. The file is replaced atomically. --json prints {"file","bytes"}.

  --html FILE        where to write the page
${SOURCE_HELP}
Exit status: 0 written, 1 registry unreadable or FILE not writable, 2 usage error.`,
  options: { ...sourceOptions, html: { type: 'string' } },
  async run(args, io) {
    noPositionals(args, 'report');
    const file = str(args, 'html');
    if (file === undefined || file === '')
      throw new UsageError('fsidmap report: --html FILE is required', 'e.g. fsidmap report --html ids.html');
    const html = Buffer.from(await renderReport({ ...source(args), env: io.env }), 'utf8');
    if (file === '-') io.stdout.write(html);
    else writeFileAtomic(file, html);
    if (flag(args, 'json') && file !== '-') writeJson(io, { file, bytes: html.length });
    return 0;
  },
});

export const serveCommands: Command[] = [serveCommand, reportCommand];
