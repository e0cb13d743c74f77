import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { clip, FsidmapError, UsageError } from '../../errors.js';
import { parsePool } from '../../alloc/index.js';
import { DEFAULT_AUDIT_LOG, startBroker } from '../../broker/broker.js';
import { BrokerClient } from '../../broker/client.js';
import { DEFAULT_LIMITS, parseLimits } from '../../broker/limits.js';
import { DEFAULT_SOCKET } from '../../broker/listen.js';
import { brokerDependencies } from '../../broker/wiring.js';
import { type Command, defineCommand, flag, str, write, writeJson } from '../command.js';

/**
 * `fsidmap broker`: the privileged service (root), and the client commands
 * an ordinary user runs against it.
 */
const serve = defineCommand({
  name: 'broker',
  summary: 'run the privileged broker that gives unprivileged users fsid mappings (root)',
  usage: `fsidmap broker [--socket PATH] [--audit-log FILE|-] [--db PATH|URL] [--limits FILE]

Listens on a Unix socket (default ${DEFAULT_SOCKET}; the socket systemd passes
with fsidmap-broker.socket takes precedence) and, for each peer the kernel
names (SO_PEERCRED), writes user-namespace maps, makes idmapped mounts and
allocates ranges — each only after the delegation policy allows it. Every
decision is a JSON line in the audit log (default ${DEFAULT_AUDIT_LOG}).
Runs in the foreground until SIGTERM or SIGINT. Protocol and policy:
docs/broker.md.

  --socket PATH      where to listen
  --audit-log FILE   where to write decisions; - for stderr
  --db PATH|URL      the range registry (SQLite file or postgres:// URL) for alloc/release
  --limits FILE      per-user and server limits (JSON, see docs/broker.md)
  --pool START:COUNT the host ids the broker allocates from (default: the
                     allocator's pool, minus users, groups and subordinate ranges)

Exit status: 0 stopped by a signal; 1 could not start (not root, socket in
use, bad limits file).`,
  options: {
    socket: { type: 'string' },
    'audit-log': { type: 'string' },
    db: { type: 'string' },
    limits: { type: 'string' },
    pool: { type: 'string' },
  },
  async run(args, io) {
    if (args.positionals.length > 0)
      throw new UsageError(`fsidmap broker: unexpected argument "${args.positionals[0]}"`, 'see fsidmap broker --help');
    const limitsFile = str(args, 'limits');
    let limits = DEFAULT_LIMITS;
    if (limitsFile !== undefined) {
      let text: string;
      try {
        text = readFileSync(limitsFile, 'utf8');
      } catch (e) {
        throw new FsidmapError('ERR_BROKER_LIMITS_FILE', `cannot read the limits file ${limitsFile}: ${(e as Error).message}`, {
          hint: 'check --limits',
        });
      }
      limits = parseLimits(text, limitsFile);
    }
    const audit = str(args, 'audit-log');
    if (audit !== undefined) checkAuditLogDir(audit);
    const poolSpec = str(args, 'pool');
    const pool = poolSpec === undefined ? undefined : parsePool(poolSpec);
    const deps = await brokerDependencies({ db: str(args, 'db'), env: io.env, ...(pool ? { pool } : {}) });
    const broker = startBroker({
      socket: str(args, 'socket') ?? DEFAULT_SOCKET,
      audit: str(args, 'audit-log') ?? DEFAULT_AUDIT_LOG,
      limits,
      env: io.env,
      ...deps,
    });
    const stop = () => {
      void broker.stop();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    // Only now: whoever waits for this line may signal at once.
    write(io.stderr, `fsidmap broker: listening on ${broker.socket ?? 'the socket systemd passed'} (pid ${process.pid})`);
    try {
      await broker.done;
    } finally {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
    }
    write(io.stderr, 'fsidmap broker: stopped');
    return 0;
  },
});

/**
 * An --audit-log given on the command line must be in a directory that exists:
 * a mistyped path is refused before anything starts, and no directory is made
 * for it (only the default, /var/log/fsidmap, is created when missing).
 */
function checkAuditLogDir(path: string): void {
  if (path === '-') return;
  const dir = dirname(resolve(path));
  const st = statSync(dir, { throwIfNoEntry: false });
  if (st?.isDirectory()) return;
  throw new FsidmapError(
    st ? 'ERR_NOT_A_DIRECTORY' : 'ERR_NOT_FOUND',
    `cannot use --audit-log ${clip(path)}: its directory ${clip(dir)} ${st ? 'is not a directory' : 'does not exist'}`,
    {
      context: { path, errno: st ? 'ENOTDIR' : 'ENOENT', argument: '--audit-log' },
      hint: `create ${clip(dir)} first (mode 0750, owned by root), or give --audit-log - for stderr`,
    },
  );
}

function client(env: NodeJS.ProcessEnv, socket: string | undefined): BrokerClient {
  return BrokerClient.connect({ env, ...(socket ? { socket } : {}) });
}

const status = defineCommand({
  name: 'broker status',
  summary: 'ask the broker who you are to it: owned ids, limits, usage',
  usage: `fsidmap broker status [--socket PATH] [--json]

Connects to the broker (FSIDMAP_BROKER_SOCKET or ${DEFAULT_SOCKET}) and prints
what it says you own (your uid/gid, subordinate and allocated ranges), your
limits and what you use. Exit status 1 when no broker answers.`,
  options: { socket: { type: 'string' }, json: { type: 'boolean' } },
  async run(args, io) {
    const c = client(io.env, str(args, 'socket'));
    try {
      const h = await c.hello();
      if (flag(args, 'json')) {
        writeJson(io, h);
        return 0;
      }
      const ranges = (l: [number, number][]) => (l.length === 0 ? 'none' : l.map(([s, n]) => `${s}+${n}`).join(', '));
      write(
        io.stdout,
        [
          `broker ${h.version} on ${c.socket} (protocol ${h.protocol})`,
          `you: uid ${h.peer.uid} gid ${h.peer.gid}${h.peer.user ? ` (${h.peer.user})` : ''}`,
          `uids: own ${h.owned.uid.own}; subordinate ${ranges(h.owned.uid.subordinate)}; allocated ${ranges(h.owned.uid.allocated)}`,
          `gids: own ${h.owned.gid.own}; subordinate ${ranges(h.owned.gid.subordinate)}; allocated ${ranges(h.owned.gid.allocated)}`,
          `usage: ${h.usage.namespaces}/${h.limits.namespaces} namespaces, ${h.usage.allocations}/${h.limits.allocations} allocations, ${h.usage.ids}/${h.limits.ids} ids`,
        ].join('\n'),
      );
      return 0;
    } finally {
      c.close();
    }
  },
});

const alloc = defineCommand({
  name: 'broker alloc',
  summary: 'have the broker allocate a range for you from its registry',
  usage: `fsidmap broker alloc NAME [--kind container|image|volume] [--size N] [--socket PATH] [--json]

Allocates (or returns, if you already hold it) a range of --size ids
(default 65536, a multiple of 65536) under NAME, within your limits. Maps
and mounts you ask the broker for may then use it.`,
  options: { kind: { type: 'string' }, size: { type: 'string' }, socket: { type: 'string' }, json: { type: 'boolean' } },
  async run(args, io) {
    const [name, extra] = args.positionals;
    if (!name || extra !== undefined)
      throw new UsageError('fsidmap broker alloc: give exactly one NAME', 'see fsidmap broker alloc --help');
    const kind = str(args, 'kind');
    if (kind !== undefined && !['container', 'image', 'volume'].includes(kind))
      throw new UsageError(`--kind must be container, image or volume, got "${kind}"`);
    const sizeText = str(args, 'size');
    if (sizeText !== undefined && !/^\d+$/.test(sizeText)) throw new UsageError(`--size must be a positive integer, got "${sizeText}"`);
    const c = client(io.env, str(args, 'socket'));
    try {
      const r = await c.alloc(name, { ...(kind ? { kind: kind as 'container' } : {}), ...(sizeText ? { size: Number(sizeText) } : {}) });
      if (flag(args, 'json')) {
        writeJson(io, r);
        return 0;
      }
      const a = r.allocation;
      write(
        io.stdout,
        `${r.created ? 'allocated' : 'already held'} ${a.kind} ${a.name}: uid ${a.uid.start}:${a.uid.count} gid ${a.gid.start}:${a.gid.count}`,
      );
      return 0;
    } finally {
      c.close();
    }
  },
});

const release = defineCommand({
  name: 'broker release',
  summary: 'give a range the broker allocated for you back',
  usage: `fsidmap broker release NAME [--socket PATH] [--json]`,
  options: { socket: { type: 'string' }, json: { type: 'boolean' } },
  async run(args, io) {
    const [name, extra] = args.positionals;
    if (!name || extra !== undefined)
      throw new UsageError('fsidmap broker release: give exactly one NAME', 'see fsidmap broker release --help');
    const c = client(io.env, str(args, 'socket'));
    try {
      const r = await c.release(name);
      const a = r.released;
      const ids = `uid ${a.uid.start}:${a.uid.count} gid ${a.gid.start}:${a.gid.count}`;
      if (flag(args, 'json')) writeJson(io, r);
      else if (r.held) write(io.stdout, `released ${a.kind} ${a.name}, held draining (${ids}): ${r.heldBy}`);
      else write(io.stdout, `released ${a.kind} ${a.name}: ${ids}`);
      return 0;
    } finally {
      c.close();
    }
  },
});

const list = defineCommand({
  name: 'broker list',
  summary: 'list the ranges the broker allocated for you',
  usage: `fsidmap broker list [--socket PATH] [--json]`,
  options: { socket: { type: 'string' }, json: { type: 'boolean' } },
  async run(args, io) {
    const c = client(io.env, str(args, 'socket'));
    try {
      const all = await c.list();
      if (flag(args, 'json')) {
        writeJson(io, { allocations: all });
        return 0;
      }
      // A header even when empty, as `fsidmap list` prints: scripts and people see which columns there are.
      const rows = [
        ['NAME', 'KIND', 'UID', 'GID', 'STATE'],
        ...all.map((a) => [clip(a.name), a.kind, `${a.uid.start}:${a.uid.count}`, `${a.gid.start}:${a.gid.count}`, a.state]),
      ];
      const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
      io.stdout.write(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n') + '\n');
      return 0;
    } finally {
      c.close();
    }
  },
});

export const brokerCommands: Command[] = [serve, status, alloc, release, list];
