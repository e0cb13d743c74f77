import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { UsageError } from '../../errors.js';
import { type Command, defineCommand, flag, str, strs, write } from '../command.js';

export const psCommand = defineCommand({
  name: 'ps',
  summary: 'the running containers: name, pid, id map, fsid map or image, uptime, status',
  usage: `fsidmap ps [-a] [--json]

One line per container of this user's run directory (FSIDMAP_RUN_DIR): its
name, the host pid of its init (pid 1 inside), its uid map, the rootfs's
fsid map (or the image), how long it has run, and its status: running, or
starting/exiting for a moment. -a adds the state that a killed fsidmap or a
reboot left behind (stale: nothing of it runs; fsidmap stop NAME removes it)
and the kept, stopped containers of images (stopped).
--json: [{"name","status","pid","supervisor","uidMap","gidMap","fs","startedAt",
"uptime","detached","network"}].`,
  options: { all: { type: 'boolean', short: 'a' }, json: { type: 'boolean' } },
  async run(args, io) {
    if (args.positionals.length > 0) throw new UsageError('fsidmap ps takes no arguments');
    const { psRows, formatUptime } = await import('../../container/index.js');
    const rows = psRows(io.env, { all: flag(args, 'all') });
    if (flag(args, 'json')) {
      write(io.stdout, JSON.stringify(rows));
      return 0;
    }
    const table = [
      ['NAME', 'PID', 'UID MAP', 'FS', 'UPTIME', 'STATUS'],
      ...rows.map((r) => [r.name, r.pid === null ? '-' : String(r.pid), r.uidMap ?? '-', r.fs ?? '-', formatUptime(r.uptime), r.status]),
    ];
    const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
    for (const r of table) write(io.stdout, r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]))).join('  '));
    return 0;
  },
});

export const execCommand = defineCommand({
  name: 'exec',
  stopsAtPositional: true,
  summary: 'run CMD in a running container: its namespaces, root, credentials and environment',
  usage: `fsidmap exec [-t] [--user UID[:GID]] [--env KEY=VALUE]... [--workdir DIR] NAME CMD [ARGS...]

Runs CMD as one more process of the container NAME: in all of its
namespaces (pid, mount, user, uts, ipc, and its network with --network
none), on its root, as CMD's user, with its environment and working
directory, unless --user, --env, --workdir say otherwise. Options end at
NAME: what follows is CMD's. No broker is needed: root, or the ordinary user
who started the container (its user namespace is theirs).
  -t, --tty            a pseudo-terminal of the container's own devpts, relayed to this one
  --user UID[:GID]     numbers, or names of the container's /etc/passwd and /etc/group;
                       they must be mapped by its id map
  --env KEY=VALUE      over the container's environment (a bare KEY passes fsidmap's own on)
  --workdir DIR        a directory in the container
Exit status: CMD's (128+N when signal N killed it); 126/127 when CMD cannot be
run or is not in the container; 1 when the container is not running.`,
  options: {
    tty: { type: 'boolean', short: 't' },
    user: { type: 'string' },
    env: { type: 'string', multiple: true },
    workdir: { type: 'string' },
    // Also accepted before NAME, as `docker exec -i` is: stdin is always passed on.
    interactive: { type: 'boolean', short: 'i' },
  },
  async run(args, io) {
    const [name, ...extra] = args.positionals;
    if (name === undefined) throw new UsageError('fsidmap exec needs NAME and CMD', 'fsidmap exec NAME CMD [ARGS...]');
    if (extra.length > 0 || args.rest.length === 0)
      throw new UsageError('fsidmap exec: no command after NAME', 'fsidmap exec NAME CMD [ARGS...]');
    const c = await import('../../container/index.js');
    c.checkName(name);
    const { envOverrides } = await import('./run-image.js');
    const user = str(args, 'user');
    const workdir = str(args, 'workdir');
    if (workdir !== undefined && !workdir.startsWith('/'))
      throw new UsageError(`--workdir ${workdir}: give an absolute path in the container`);
    let forward: ((sig: NodeJS.Signals) => void) | null = null;
    // A terminal's Ctrl-C reaches CMD directly (it shares our process group, or has the pty): fsidmap stays to relay its status.
    const onInt = () => {};
    const onTerm = (sig: NodeJS.Signals) => forward?.(sig);
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    process.on('SIGHUP', onTerm);
    try {
      const code = await c.execInContainer(
        {
          name,
          command: args.rest,
          ...(user !== undefined ? { user: c.parseUserArg(user) } : {}),
          env: envOverrides([], strs(args, 'env'), io.env),
          ...(workdir !== undefined ? { workdir } : {}),
          tty: flag(args, 'tty'),
        },
        { env: io.env, onSpawn: (f) => (forward = f) },
      );
      return code;
    } catch (e) {
      // As run does, and a shell: 127 not found, 126 not executable.
      const code = (e as { code?: string }).code;
      if (code === 'ERR_RUN_CMD_NOT_FOUND' || code === 'ERR_RUN_CMD_NOT_EXECUTABLE') {
        write(io.stderr, `fsidmap: ${(e as Error).message}`);
        const hint = (e as { hint?: string }).hint;
        if (hint) write(io.stderr, `  hint: ${hint}`);
        return code === 'ERR_RUN_CMD_NOT_FOUND' ? 127 : 126;
      }
      throw e;
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      process.off('SIGHUP', onTerm);
    }
  },
});

export const stopCommand = defineCommand({
  name: 'stop',
  summary: 'stop a container: SIGTERM to CMD, SIGKILL after the timeout',
  usage: `fsidmap stop [--time S] NAME...

Sends CMD's process group SIGTERM, and SIGKILLs the container (every
process in it) when it has not exited after S seconds (default 10); returns
once its fsidmap has removed everything (mounts go with the container's
mount namespace; the state file last). A stale state (ps -a) is removed.
Exit status: 0 stopped; 1 one was not running (the others are stopped).`,
  options: { time: { type: 'string' }, json: { type: 'boolean' } },
  async run(args, io) {
    if (args.positionals.length === 0) throw new UsageError('fsidmap stop needs a NAME', 'fsidmap ps lists them');
    const t = str(args, 'time') ?? '10';
    if (!/^\d+$/.test(t)) throw new UsageError(`--time must be a whole number of seconds, got "${t}"`);
    const c = await import('../../container/index.js');
    for (const n of args.positionals) c.checkName(n);
    let failed = 0;
    const out: Array<{ name: string; killed?: boolean; stale?: boolean; code?: string; message?: string; hint?: string | null }> = [];
    for (const name of args.positionals) {
      try {
        const r = await c.stopContainer(name, Number(t), io.env);
        out.push({ name, killed: r.killed, stale: r.stale });
        if (!flag(args, 'json'))
          write(io.stdout, r.stale ? `${name} (stale state removed)` : r.killed ? `${name} (killed after ${t}s)` : name);
      } catch (e) {
        failed++;
        const err = e as { code?: string; message: string; hint?: string };
        out.push({ name, code: err.code ?? 'ERR_INTERNAL', message: err.message, hint: err.hint ?? null });
        // With --json the report on stdout says it all (as container rm's does); text goes to stderr otherwise.
        if (!flag(args, 'json')) {
          write(io.stderr, `fsidmap stop: ${err.message}`);
          if (err.hint) write(io.stderr, `  hint: ${err.hint}`);
        }
      }
    }
    if (flag(args, 'json')) write(io.stdout, JSON.stringify(out));
    return failed === 0 ? 0 : 1;
  },
});

export const killCommand = defineCommand({
  name: 'kill',
  summary: "send a signal to a container's CMD (SIGKILL: the whole container)",
  usage: `fsidmap kill NAME [SIGNAL]

Sends SIGNAL (default KILL; a name such as TERM or HUP, or a number) to the
container's init, which passes it on to CMD's process group; KILL ends init
and with it every process of the container, and its fsidmap cleans up.`,
  options: {},
  async run(args, io) {
    const [name, sig, extra] = args.positionals;
    if (name === undefined || extra !== undefined) throw new UsageError('fsidmap kill NAME [SIGNAL]');
    const c = await import('../../container/index.js');
    c.checkName(name);
    const n = c.signalNumber(sig ?? 'KILL');
    if (!c.signalContainer(c.findRunning(name, io.env), n)) {
      write(io.stderr, `fsidmap: the container "${name}" had already exited`);
      return 1;
    }
    return 0;
  },
});

export const logsCommand = defineCommand({
  name: 'logs',
  summary: 'the output of a container started with run -d',
  usage: `fsidmap logs [-f] NAME

Prints what CMD wrote to stdout and stderr (one log, in the order written).
-f: then follows it until the container exits. The log stays after the
container exits, until the name is run -d again or it ran with --rm.`,
  options: { follow: { type: 'boolean', short: 'f' } },
  async run(args, io) {
    const [name, extra] = args.positionals;
    if (name === undefined || extra !== undefined) throw new UsageError('fsidmap logs [-f] NAME');
    const c = await import('../../container/index.js');
    c.checkName(name);
    const path = c.logPath(name, io.env);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      throw new UsageError(`no log of a container "${name}" (${path})`, 'logs are kept for containers started with fsidmap run -d');
    }
    try {
      let offset = 0;
      const buf = Buffer.alloc(65536);
      const drain = () => {
        for (;;) {
          const n = readSync(fd, buf, 0, buf.length, offset);
          if (n <= 0) return;
          offset += n;
          io.stdout.write(Buffer.from(buf.subarray(0, n)));
        }
      };
      drain();
      if (!flag(args, 'follow')) return 0;
      const running = () => c.listStates(io.env).some((s) => s.name === name);
      while (running()) {
        await new Promise((r) => setTimeout(r, 100));
        if (statSync(path).size > offset) drain();
      }
      drain();
      return 0;
    } finally {
      closeSync(fd);
    }
  },
});

export const lifecycleCommands: Command[] = [psCommand, execCommand, stopCommand, killCommand, logsCommand];
