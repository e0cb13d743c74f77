import { realpathSync, rmSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { FsidmapError, UsageError } from '../../errors.js';
import type { PrivilegePort } from '../../container/index.js';
import type { IdMap } from '../../idmap/index.js';
import { type Command, defineCommand, type ParsedArgs, str, strs, flag, write, writeJson } from '../command.js';
import { readMapArg } from '../map-arg.js';
import { envValue } from '../../environment.js';

const MAP_HELP = 'MAP is an inline spec (0:100000:65536[,…]), map lines ("0 100000 65536"), a file, or - for stdin.';

interface Pair {
  uid: IdMap;
  gid: IdMap;
}

/**
 * --PREFIXidmap MAP, or --PREFIXuidmap MAP --PREFIXgidmap MAP: one map for
 * both, or one of each. Undefined when none is given.
 */
export function mapPair(args: ParsedArgs, prefix: '' | 'fs', what: string): Pair | undefined {
  const both = str(args, `${prefix}idmap`),
    u = str(args, `${prefix}uidmap`),
    g = str(args, `${prefix}gidmap`);
  if (both !== undefined && (u !== undefined || g !== undefined)) {
    throw new UsageError(`--${prefix}idmap sets both maps: do not combine it with --${prefix}uidmap/--${prefix}gidmap`);
  }
  if (both !== undefined) {
    const m = readMapArg(both, what);
    return { uid: m, gid: m };
  }
  if ((u === undefined) !== (g === undefined)) {
    throw new UsageError(
      `--${prefix}uidmap and --${prefix}gidmap go together`,
      `give both, or --${prefix}idmap for one map used for uids and gids`,
    );
  }
  if (u !== undefined) return { uid: readMapArg(u, `${what} (uids)`), gid: readMapArg(g!, `${what} (gids)`) };
  return undefined;
}

export const mapOptions = {
  idmap: { type: 'string' },
  uidmap: { type: 'string' },
  gidmap: { type: 'string' },
  fsidmap: { type: 'string' },
  fsuidmap: { type: 'string' },
  fsgidmap: { type: 'string' },
} as const;

/** The options that describe a container: run's, and oci config's (which says the same container in config.json). */
export const containerOptions = {
  name: { type: 'string' },
  ...mapOptions,
  allocate: { type: 'boolean' },
  fs: { type: 'string' },
  rootfs: { type: 'string' },
  volume: { type: 'string', multiple: true },
  user: { type: 'string' },
  hostname: { type: 'string' },
  image: { type: 'string' },
  env: { type: 'string', multiple: true },
  'env-file': { type: 'string', multiple: true },
  workdir: { type: 'string' },
  network: { type: 'string' },
} as const;

/** --network's value, checked: none or host (undefined: not given). */
export function networkOption(value: string | undefined): 'none' | 'host' | undefined {
  if (value !== undefined && value !== 'none' && value !== 'host')
    throw new UsageError(
      `--network ${value}: only none and host`,
      'none: a network namespace of its own, loopback only; host: the host network (the default)',
    );
  return value;
}

export const mountCommand = defineCommand({
  name: 'mount',
  summary: 'attach an idmapped mount of SRC at DST that shows it as a container with these id and fsid maps sees it',
  usage: `fsidmap mount (--idmap MAP | --uidmap MAP --gidmap MAP) (--fsidmap MAP | --fsuidmap MAP --fsgidmap MAP) [--json] SRC DST

Makes an idmapped mount at DST of the directory SRC, whose files are stored
on disk as the fsid maps say (e.g. 0 300000 65536), so that a process with
the id maps (e.g. 0 100000 65536) sees them as its own 0..65535, and files it
creates land on disk at 300000+. The mount map is idmap∘fsidmap⁻¹ (see
fsidmap map mount-map). For runtimes that set up their own containers.
Undo with fsidmap umount DST. Needs root.

  --idmap MAP      the container's id map (uids and gids); or --uidmap and --gidmap
  --fsidmap MAP    the fsid map (where the tree is stored on disk); or --fsuidmap and --fsgidmap
${MAP_HELP}
  --json           {"source","target","uidMap","gidMap","warnings"} (maps as on-disk:seen:count)
Exit status: 0 mounted; 1 refused (not root, kernel or filesystem without
idmapped mounts, SRC already idmapped, DST already a mount point, …: the
message says which); 2 bad input.`,
  options: { ...mapOptions, json: { type: 'boolean' } },
  async run(args, io) {
    if (args.positionals.length !== 2) throw new UsageError('fsidmap mount needs SRC and DST', 'see fsidmap mount --help');
    const ids = mapPair(args, '', 'id map'),
      fs = mapPair(args, 'fs', 'fsid map');
    if (!ids) throw new UsageError('fsidmap mount: --idmap (or --uidmap and --gidmap) is required');
    if (!fs)
      throw new UsageError(
        'fsidmap mount: --fsidmap (or --fsuidmap and --fsgidmap) is required',
        'without an fsid map the kernel uses the id map: a plain bind mount does that',
      );
    const [src, dst] = args.positionals.map((p) => resolve(p));
    const { mountIdmapped } = await import('../../container/host-mount.js');
    const r = await mountIdmapped(src, dst, ids, fs);
    if (flag(args, 'json')) {
      writeJson(io, r);
      return 0;
    }
    for (const w of r.warnings) write(io.stderr, `fsidmap: note: ${w}`);
    write(io.stdout, `mounted ${r.source} at ${r.target}: uid map ${r.uidMap}, gid map ${r.gidMap} (on-disk id, id seen, count)`);
    return 0;
  },
});

export const umountCommand = defineCommand({
  name: 'umount',
  summary: 'remove an idmapped mount made by fsidmap mount',
  usage: `fsidmap umount [--json] DST

Unmounts the idmapped mount at DST. Refuses a path that is not a mount point
or whose mount is not idmapped (use umount(8) for those). Needs root.
--json prints {"target"} once it is unmounted.
Exit status: 0 unmounted; 1 refused (busy, not an idmapped mount, …).`,
  options: { json: { type: 'boolean' } },
  async run(args, io) {
    if (args.positionals.length !== 1) throw new UsageError('fsidmap umount needs DST', 'see fsidmap umount --help');
    const dst = absolute(args.positionals[0]);
    const { unmountIdmappedAt } = await import('../../container/host-mount.js');
    unmountIdmappedAt(dst);
    if (flag(args, 'json')) writeJson(io, { target: dst });
    else write(io.stdout, `unmounted ${dst}`);
    return 0;
  },
});

function absolute(p: string): string {
  const abs = isAbsolute(p) ? p : resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    return abs;
  }
}

export const runCommand = defineCommand({
  name: 'run',
  keepsRest: true,
  summary: 'run CMD in new namespaces on an image shared through fsid maps (idmapped mounts)',
  usage: `fsidmap run [--name NAME] (--idmap MAP | --uidmap MAP --gidmap MAP | --allocate)
            [--fsidmap MAP | --fsuidmap MAP --fsgidmap MAP | --fs NAME] [--rootfs DIR | --image NAME[:TAG]] [--rm]
            [--volume SRC:DST[:ro][:fsidmap=MAP]]... [--user UID[:GID]] [--hostname H]
            [--env KEY=VALUE]... [--env-file FILE]... [--workdir DIR] [--network none|host]
            [-d | --detach] [-t | --tty] -- CMD [ARGS...]

Runs CMD in new user, mount, pid, uts and ipc namespaces. The rootfs and each
volume are idmapped mounts that show the files stored on disk at the fsid map
as the container's own ids (the fsid map 0 300000 65536 with the id map
0 100000 65536: on-disk 300000+x shows as x, and files created inside land at
300000+x). The container gets proc, a minimal /dev and a tmpfs /tmp; CMD runs
as its uid 0 unless --user; stdin, stdout and stderr are fsidmap's.

  --name NAME          unique among running containers (default fsidmap-<random>);
                       the registry name with --allocate
  --idmap MAP          the container's id map; or --uidmap MAP --gidmap MAP
  --allocate           take the id ranges from the registry under NAME; released on exit
  --fsidmap MAP        where the image is stored on disk; or --fsuidmap and --fsgidmap;
                       without one, files are seen through the id map (as today's kernel does)
  --fs NAME            the fsid map of the registry's image/volume allocation NAME
  --rootfs DIR         the image (needs /proc, /dev and /tmp directories); default: the host's /
  --image NAME[:TAG]   an image of the store (fsidmap image import): the rootfs is an overlay
                       of its layers, shared unshifted by every container in any range, and
                       a writable layer of the container's own, stored at the image's ids.
                       The image's Entrypoint, Cmd, Env, WorkingDir and User apply; CMD
                       replaces its Cmd. With --name the container is kept after exit, and
                       running the name again (--image may then be left out) restarts it on
                       its own layer, in whatever range it gets (see fsidmap container)
  --rm                 remove the container's writable layer (and with -d its log) when it exits
  --env KEY=VALUE      set a variable for CMD (a bare KEY passes fsidmap's own on); repeatable
  --env-file FILE      KEY=VALUE lines (# comments), before --env; repeatable
  --workdir DIR        CMD's working directory (default: the image's WorkingDir, else /)
  --volume SRC:DST[:ro][:fsidmap=MAP]
                       bind SRC at DST (which must exist in the image), through the
                       container's fsid map or its own; ro: read-only (the container cannot
                       remount it writable)
  --user UID[:GID]     run CMD as this uid (and gid; else its group in the image's /etc/passwd)
  --hostname H         default: NAME
  --network none|host  none: a network namespace of its own with only loopback (up);
                       host (the default, as before): the host's network
  -d, --detach         run in the background: prints NAME once the container runs and
                       returns; CMD's stdout and stderr go to a log (fsidmap logs NAME);
                       see fsidmap ps, exec, stop, kill
  -t, --tty            CMD on a pseudo-terminal of the container's own devpts, relayed to
                       fsidmap's terminal (raw mode: Ctrl-C, Ctrl-Z and resizes reach CMD)
${MAP_HELP}
Exit status: CMD's (128+N when a signal N killed it); 126/127 when CMD cannot be
run or is not in the image; 1 when fsidmap refuses or setup fails (nothing is
left behind); 2 for bad input. SIGTERM, SIGINT and SIGHUP to fsidmap stop the
container: CMD's process group gets the signal, and SIGKILL follows after
FSIDMAP_STOP_TIMEOUT seconds (default 10). With a terminal, CMD is its foreground
job: Ctrl-C goes to CMD. With -d: 0 once the container runs (the other statuses
as above when it does not start). The registry is FSIDMAP_DB (see fsidmap alloc).`,
  options: {
    ...containerOptions,
    rm: { type: 'boolean' },
    detach: { type: 'boolean', short: 'd' },
    tty: { type: 'boolean', short: 't' },
  },
  async run(args, io) {
    const c = await import('../../container/index.js');
    const network = networkOption(str(args, 'network'));
    if (flag(args, 'detach') && flag(args, 'tty'))
      throw new UsageError(
        '-d and -t together: a detached container has no terminal to relay to',
        'start it with -d, then fsidmap exec -t NAME sh',
      );
    const glue = await import('./run-image.js');
    if (args.positionals.length > 0)
      throw new UsageError(
        `unexpected argument "${args.positionals[0]}" before --`,
        'put the command after --: fsidmap run [OPTIONS] -- CMD [ARGS...]',
      );
    const imageRef = str(args, 'image');
    if (imageRef !== undefined && str(args, 'rootfs') !== undefined)
      throw new UsageError('--rootfs and --image both give the rootfs: choose one');
    // An image brings its own command; so does a kept container, restarted by name.
    if (args.rest.length === 0 && imageRef === undefined && (str(args, 'name') === undefined || str(args, 'rootfs') !== undefined))
      throw new UsageError(
        'fsidmap run: no command',
        'put the command after --, e.g. fsidmap run --idmap 0:100000:65536 --rootfs DIR -- /bin/sh',
      );
    const idPair = mapPair(args, '', 'id map');
    const allocate = flag(args, 'allocate');
    if ((idPair ? 1 : 0) + (allocate ? 1 : 0) !== 1) {
      throw new UsageError('fsidmap run needs exactly one of --idmap, --uidmap/--gidmap, --allocate', 'see fsidmap run --help');
    }
    const fsPair = mapPair(args, 'fs', 'fsid map');
    const fsName = str(args, 'fs');
    if (fsPair && fsName !== undefined) throw new UsageError('--fs NAME and --fsidmap give the fsid map twice: choose one');
    const name = str(args, 'name');
    if (name !== undefined) c.checkName(name);
    const timeout = envValue('FSIDMAP_STOP_TIMEOUT', io.env);
    if (timeout !== undefined && !/^\d+$/.test(timeout))
      throw new UsageError(`FSIDMAP_STOP_TIMEOUT must be a whole number of seconds, got "${timeout}"`);
    const volumes = strs(args, 'volume').map((v) =>
      c.parseVolumeArg(v, (text, what) => {
        const m = readMapArg(text, what);
        return { uid: m, gid: m };
      }),
    );
    const user = str(args, 'user');
    if (flag(args, 'detach')) {
      // The supervisor checks everything again, and reports what it refuses through the ready pipe.
      const detached = await import('./run-detached.js');
      const chosen = name ?? `fsidmap-${(await import('node:crypto')).randomBytes(4).toString('hex')}`;
      try {
        await detached.startSupervisor(detached.supervisorArgv(args, chosen), c.logPath(chosen, io.env), io.env);
      } catch (e) {
        const status = commandStatus(e, io);
        if (status !== null) return status;
        throw e;
      }
      write(io.stdout, chosen);
      return 0;
    }
    const readyFd = envValue('FSIDMAP_DETACHED_READY_FD', io.env);
    const supervisor =
      readyFd !== undefined && name !== undefined
        ? { fd: Number(readyFd), log: c.logPath(name, io.env), tell: (await import('./run-detached.js')).tellParent }
        : null;
    const env = glue.envOverrides(strs(args, 'env-file'), strs(args, 'env'), io.env);
    const image = imageRef !== undefined ? await glue.resolveImage(imageRef, io.env) : undefined;
    const holds = await glue.imageHolds(io.env);
    const needsRegistry = allocate || fsName !== undefined;
    // Root or the broker, chosen once here: for the ranges of --allocate/--fs, and for the mounts and maps.
    const privilege = await import('../../privilege/index.js');
    const registry = needsRegistry ? await privilege.chooseRunRegistry(io.env) : undefined;
    let port: PrivilegePort | undefined;
    try {
      port = await privilege.choosePrivilegePort(io.env);
      return await c.runContainer(
        {
          ...(name !== undefined ? { name } : {}),
          ids: idPair ? { kind: 'maps', maps: idPair } : { kind: 'allocate' },
          fs: fsPair ? { kind: 'maps', maps: fsPair } : fsName !== undefined ? { kind: 'registry', name: fsName } : { kind: 'none' },
          ...(str(args, 'rootfs') !== undefined ? { rootfs: str(args, 'rootfs')! } : {}),
          volumes,
          ...(user !== undefined ? { user: c.parseUserArg(user) } : {}),
          ...(str(args, 'hostname') !== undefined ? { hostname: str(args, 'hostname')! } : {}),
          ...(image ? { image } : {}),
          ...(flag(args, 'rm') ? { keep: false } : {}),
          env,
          ...(str(args, 'workdir') !== undefined ? { workdir: str(args, 'workdir')! } : {}),
          ...(holds ? { holds } : {}),
          command: args.rest,
          ...(registry ? { registry } : {}),
          ...(timeout !== undefined ? { stopTimeout: Number(timeout) } : {}),
          ...(network !== undefined ? { network } : {}),
          ...(flag(args, 'tty') ? { tty: true } : {}),
        },
        {
          env: io.env,
          port,
          onWarning: (m) => write(io.stderr, `fsidmap: note: ${m}`),
          ...(supervisor
            ? {
                stdio: ['ignore', 'inherit', 'inherit'] as const,
                detached: { log: supervisor.log },
                onStart: (ct: { name: string; initPid: number }) =>
                  supervisor.tell(supervisor.fd, { ready: true, name: ct.name, pid: ct.initPid }),
              }
            : {}),
        },
      );
    } catch (e) {
      if (supervisor) supervisor.tell(supervisor.fd, { error: errorLine(e) });
      const status = commandStatus(e, io);
      if (status !== null) return status;
      throw e;
    } finally {
      port?.close();
      await registry?.close();
      if (supervisor && flag(args, 'rm')) rmSync(supervisor.log, { force: true });
    }
  },
});

/** A command that cannot be run answers like a shell: 127 not found, 126 not executable; null for any other error. */
function commandStatus(e: unknown, io: { stderr: NodeJS.WritableStream }): number | null {
  if (!(e instanceof FsidmapError) || (e.code !== 'ERR_RUN_CMD_NOT_FOUND' && e.code !== 'ERR_RUN_CMD_NOT_EXECUTABLE')) return null;
  write(io.stderr, `fsidmap: ${e.message}`);
  if (e.hint) write(io.stderr, `  hint: ${e.hint}`);
  return e.code === 'ERR_RUN_CMD_NOT_FOUND' ? 127 : 126;
}

/** What a supervisor tells run -d when the container does not start. */
function errorLine(e: unknown): { code: string; message: string; hint?: string } {
  const f = e instanceof FsidmapError ? e : null;
  return { code: f?.code ?? 'ERR_INTERNAL', message: e instanceof Error ? e.message : String(e), ...(f?.hint ? { hint: f.hint } : {}) };
}

export const runCommands: Command[] = [mountCommand, umountCommand, runCommand];
