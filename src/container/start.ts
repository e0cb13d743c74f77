import { type ChildProcess, spawn, type StdioNull, type StdioPipe } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Duplex, Readable, Writable } from 'node:stream';
import { FsidmapError } from '../errors.js';
import { formatCompact } from '../idmap/index.js';
import {
  closeFd,
  createUserns,
  type DetachedMount,
  makeDetachedMount,
  pidfdOpen,
  pidfdSendSignal,
  stagePath,
  type UsernsHolder,
  writeNamespaceMaps,
} from '../kernel/index.js';
import { connectRunBroker, type RunBroker } from '../broker/run-client.js';
import { Cleanup } from './cleanup.js';
import { checkInput, type CheckedInput, DEFAULT_PATH, planRun, type RunPlan } from './prepare.js';
import { mapsOfRanges, type RangeRegistry } from './ranges.js';
import { checkName, type MapPair, type RunSpec } from './spec.js';
import { abortError, StageChannel, stageError } from './stage-channel.js';
import { reserveName } from './state.js';

export type StdioChoice = 'inherit' | StdioPipe | StdioNull | number;

export interface StartOptions {
  /** The container's stdin, stdout and stderr (default: fsidmap's own). */
  readonly stdio?: readonly [StdioChoice, StdioChoice, StdioChoice];
  /** Aborting stops setup and removes whatever was made so far. */
  readonly signal?: AbortSignal;
  /** Notes about the run that are not errors (e.g. an image that will show as 65534). */
  readonly onWarning?: (message: string) => void;
  /** The host environment: TERM is passed on from it. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface Container {
  readonly name: string;
  /** Host pid of the stage (outside the container's pid namespace). */
  readonly stagePid: number;
  /** Host pid of the container's pid 1 (the stage's small init). */
  readonly initPid: number;
  readonly idmaps: MapPair;
  readonly plan: RunPlan;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** CMD's exit status (128+signal if it was killed), once every resource of the container is released. */
  readonly exited: Promise<number>;
  /** Passes a signal to CMD. */
  signal(signal: NodeJS.Signals): void;
  /** Sends CMD `signal` (SIGTERM) and SIGKILLs the container after the stop timeout; resolves with the exit status. */
  stop(signal?: 'SIGTERM' | 'SIGINT' | 'SIGHUP'): Promise<number>;
  /** SIGKILLs the container's pid 1 now, which takes every process of the container with it. */
  kill(): Promise<number>;
}

/**
 * Starts CMD in new user, mount, pid, uts and ipc namespaces, on the rootfs
 * (and volumes) through idmapped mounts that realise the fsid maps. Every
 * check runs before anything is made; everything made is owned by one
 * Cleanup that runs on setup failure, on abort, and after the container
 * exits. Nothing is ever attached in the host's mount table: the mounts are
 * made detached and attached by the stage inside the container's own mount
 * namespace, which dies with the container's last process.
 */
export async function startContainer(spec: RunSpec, options: StartOptions = {}): Promise<Container> {
  // Not root: the broker writes the maps and makes the mounts (docs/broker.md); the stage attaches them inside.
  const broker = process.geteuid?.() === 0 ? null : connectRunBroker(options.env);
  const cleanup = new Cleanup();
  if (broker) cleanup.push('broker connection', () => broker.close());
  let input: CheckedInput, name: string;
  try {
    input = checkInput(spec);
    name = checkName(spec.name ?? `fsidmap-${randomBytes(4).toString('hex')}`);
  } catch (e) {
    broker?.close();
    throw e;
  }
  const abort = options.signal;
  const checkAbort = () => {
    if (abort?.aborted) throw abortError(abort);
  };
  try {
    checkAbort();
    // With explicit maps everything is checked before the name is reserved; registry maps are known only after asking it.
    const explicit = spec.ids.kind === 'maps' && spec.fs.kind !== 'registry';
    let plan = explicit ? planRun(input, spec.ids.maps, spec.fs.kind === 'maps' ? spec.fs.maps : null) : null;
    const state = reserveName({ name, stagePid: null, initPid: null, rootfs: input.rootfs, uidMap: '', gidMap: '' });
    cleanup.push('state file', () => state.release());
    if (plan === null) {
      const { idmaps, fsidmaps } = await resolveMaps(spec, name, cleanup);
      checkAbort();
      plan = planRun(input, idmaps, fsidmaps);
    }
    const idmaps = plan.idmaps;
    for (const w of plan.warnings) options.onWarning?.(w);
    state.update({ uidMap: formatCompact(idmaps.uid).trim(), gidMap: formatCompact(idmaps.gid).trim() });

    const mounts = await makeMounts(input, plan, cleanup, checkAbort, broker);
    checkAbort();

    const stage = spawnStage(spec, name, input, plan, mounts, options, broker !== null);
    // The stage has its own copies of the mount fds now; ours go.
    for (const m of mounts.all) m.close();
    const child = stage.child;
    // 'close', not 'exit': piped output is read to its end before the exit status is reported.
    const childExit = new Promise<number>((resolve) =>
      child.once('close', (code, sig) => resolve(code ?? 128 + (osConstants.signals[sig as NodeJS.Signals] ?? 0))),
    );
    cleanup.push('stage', async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await childExit;
    });
    const channel = new StageChannel(child.stdio[3] as Duplex);
    cleanup.push('control socket', () => channel.close());

    await expect(channel, 'ready', abort, childExit);
    if (broker) await broker.writeMaps(child.pid!, idmaps);
    else writeNamespaceMaps(child.pid!, idmaps, 'allow');
    channel.send('go');
    const started = await expect(channel, 'started', abort, childExit);
    const initPid = Number(started.split(' ')[1]);
    // null: init has already exited (a quick CMD), so there is nothing left to kill.
    const initPidfd = openInit(initPid, child.pid!);
    if (initPidfd !== null) cleanup.push('init pidfd', () => closeFd(initPidfd));
    state.update({ stagePid: child.pid!, initPid });
    await expect(channel, 'running', abort, childExit);
    channel.close();

    // From here the container runs; cleanup runs when the stage exits.
    const exited = childExit.then(async (code) => {
      await cleanup.run();
      return code;
    });
    const stop = async (signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP' = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      // The stage SIGKILLs init after the stop timeout; this is the backstop if the stage itself hangs.
      const timeout = ((spec.stopTimeout ?? 10) + 5) * 1000;
      const backstop = setTimeout(() => {
        if (initPidfd !== null) pidfdSendSignal(initPidfd, 9);
        child.kill('SIGKILL');
      }, timeout);
      try {
        return await exited;
      } finally {
        clearTimeout(backstop);
      }
    };
    return {
      name,
      stagePid: child.pid!,
      initPid,
      idmaps,
      plan,
      stdin: child.stdin,
      stdout: child.stdout,
      stderr: child.stderr,
      exited,
      signal(signal) {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
      stop,
      async kill() {
        if (child.exitCode === null && child.signalCode === null && initPidfd !== null) pidfdSendSignal(initPidfd, 9);
        return exited;
      },
    };
  } catch (e) {
    await cleanup.run().catch(() => {
      /* the first error is the one to report */
    });
    throw e;
  }
}

async function resolveMaps(spec: RunSpec, name: string, cleanup: Cleanup): Promise<{ idmaps: MapPair; fsidmaps: MapPair | null }> {
  const registry = (): RangeRegistry => {
    if (!spec.registry) throw new FsidmapError('ERR_REGISTRY_UNAVAILABLE', '--allocate and --fs need the range registry');
    return spec.registry;
  };
  let fsidmaps: MapPair | null = null;
  if (spec.fs.kind === 'maps') fsidmaps = spec.fs.maps;
  else if (spec.fs.kind === 'registry') fsidmaps = mapsOfRanges(await registry().fsRanges(spec.fs.name));
  let idmaps: MapPair;
  if (spec.ids.kind === 'maps') {
    idmaps = spec.ids.maps;
  } else {
    const reg = registry();
    const ranges = await reg.acquireContainer(name, spec.fs.kind === 'registry' ? { fs: spec.fs.name } : {});
    cleanup.push('container allocation', () => reg.releaseContainer(name));
    idmaps = mapsOfRanges(ranges);
  }
  return { idmaps, fsidmaps };
}

interface Mounts {
  readonly rootfs: DetachedMount | null;
  /** null: no fsid map, as an ordinary user (the stage bind-mounts the directory itself). */
  readonly volumes: Array<DetachedMount | null>;
  readonly all: DetachedMount[];
}

/** One holder per distinct mount map, shared by the mounts that use it, released as soon as they are made. */
async function makeMounts(
  input: CheckedInput,
  plan: RunPlan,
  cleanup: Cleanup,
  checkAbort: () => void,
  broker: RunBroker | null,
): Promise<Mounts> {
  if (broker) return brokeredMounts(input, plan, cleanup, checkAbort, broker);
  const holders = new Map<string, UsernsHolder>();
  const holderFor = async (maps: MapPair | null): Promise<UsernsHolder | undefined> => {
    if (!maps) return undefined;
    const key = `${formatCompact(maps.uid)}|${formatCompact(maps.gid)}`;
    let h = holders.get(key);
    if (!h) {
      h = await createUserns(maps);
      holders.set(key, h);
      cleanup.push('userns holder', () => h!.release());
    }
    return h;
  };
  const all: DetachedMount[] = [];
  const make = async (source: string, maps: MapPair | null, readonly: boolean) => {
    checkAbort();
    const holder = await holderFor(maps);
    const m = await makeDetachedMount(source, { maps, readonly, ...(holder ? { holder } : {}) });
    cleanup.push(`detached mount of ${source}`, () => m.close());
    all.push(m);
    return m;
  };
  const rootfs = input.rootfs === null ? null : await make(input.rootfs, plan.rootfsMaps, false);
  const volumes: DetachedMount[] = [];
  for (let i = 0; i < input.volumes.length; i++) {
    const v = input.volumes[i];
    volumes.push(await make(v.hostSource, plan.volumeMaps[i], v.readonly));
  }
  for (const h of holders.values()) await h.release();
  return { rootfs, volumes, all };
}

/**
 * As an ordinary user, the mounts with an fsid map come from the broker
 * (idmapped, nodev, flags locked); those without one are plain bind mounts
 * the stage makes itself inside the container's namespaces.
 */
async function brokeredMounts(
  input: CheckedInput,
  plan: RunPlan,
  cleanup: Cleanup,
  checkAbort: () => void,
  broker: RunBroker,
): Promise<Mounts> {
  const all: DetachedMount[] = [];
  const make = async (source: string, maps: MapPair | null, readonly: boolean): Promise<DetachedMount | null> => {
    checkAbort();
    if (!maps) return null;
    const m = await broker.mount(source, maps, readonly);
    cleanup.push(`detached mount of ${source}`, () => m.close());
    all.push(m);
    return m;
  };
  const rootfs = input.rootfs === null ? null : await make(input.rootfs, plan.rootfsMaps, false);
  const volumes: Array<DetachedMount | null> = [];
  for (let i = 0; i < input.volumes.length; i++) {
    const v = input.volumes[i];
    volumes.push(await make(v.hostSource, plan.volumeMaps[i], v.readonly));
  }
  return { rootfs, volumes, all };
}

function spawnStage(
  spec: RunSpec,
  name: string,
  input: CheckedInput,
  plan: RunPlan,
  mounts: Mounts,
  options: StartOptions,
  asUser: boolean,
): { child: ChildProcess } {
  const fds: number[] = [];
  const fdOf = (m: DetachedMount) => {
    fds.push(m.fd);
    return 3 + fds.length;
  };
  const args = ['run'];
  // As an ordinary user the stage cannot attach anything before it has a user namespace: it attaches inside.
  if (asUser) args.push('--attach', 'inside');
  if (input.rootfs !== null) {
    args.push('--rootfs', input.rootfs);
    if (mounts.rootfs) args.push('--root-fd', String(fdOf(mounts.rootfs)));
  }
  input.volumes.forEach((v, i) => {
    const m = mounts.volumes[i];
    if (m) args.push('--volume', `${fdOf(m)}:${v.target}`);
    else args.push('--bind-volume', `${v.hostSource}:${v.target}${v.readonly ? ':ro' : ''}`);
  });
  const hostname = spec.hostname ?? name;
  const u = input.user;
  args.push('--hostname', hostname, '--uid', String(u.uid), '--gid', String(u.gid), '--groups', u.groups.join(','));
  if (plan.devptsGid !== null) args.push('--devpts-gid', String(plan.devptsGid));
  const hostEnv = options.env ?? process.env;
  // Test hook (see native/fsidmap-stage.c): make a setup step fail or hang.
  if (hostEnv.FSIDMAP_TEST_STAGE_FAULT) args.push('--fault', hostEnv.FSIDMAP_TEST_STAGE_FAULT);
  args.push('--stop-timeout', String(spec.stopTimeout ?? 10), '--', ...spec.command);
  const env: Record<string, string> = { PATH: DEFAULT_PATH, HOME: u.home, HOSTNAME: hostname, container: 'fsidmap' };
  if (u.name) {
    env.USER = u.name;
    env.LOGNAME = u.name;
  }
  if (hostEnv.TERM) env.TERM = hostEnv.TERM;
  const stdio = options.stdio ?? ['inherit', 'inherit', 'inherit'];
  const child = spawn(stagePath(hostEnv), args, { stdio: [...stdio, 'pipe', ...fds], env, argv0: `fsidmap-stage:${name}` });
  return { child };
}

/** Waits for the stage's next line to start with `word`; an error line, EOF or abort throws. */
async function expect(channel: StageChannel, word: string, abort: AbortSignal | undefined, childExit: Promise<number>): Promise<string> {
  const line = await channel.next(abort);
  if (line !== null && (line === word || line.startsWith(word + ' '))) return line;
  if (line !== null && line.startsWith('error ')) throw stageError(line);
  const code = await Promise.race([childExit, new Promise<string>((r) => setTimeout(() => r('still running'), 1000))]);
  throw new FsidmapError(
    'ERR_RUN_SETUP',
    `the namespace stage ${line === null ? 'exited' : `said "${line}"`} before it was ${word} (${typeof code === 'number' ? `status ${code}` : code})`,
    {
      context: { expected: word, got: line },
    },
  );
}

/**
 * A pidfd of the container's pid 1, so a later SIGKILL cannot hit a
 * process that reused its number: taken while the stage (its parent, which
 * reaps it) still shows as its parent. Null when init has already exited
 * and been reaped — CMD was quick — since then there is nothing to signal.
 */
function openInit(initPid: number, stagePid: number): number | null {
  let fd: number;
  try {
    fd = pidfdOpen(initPid);
  } catch (e) {
    if (e instanceof FsidmapError && e.code === 'ERR_SYSCALL_ESRCH') return null;
    throw e;
  }
  let ppid = -1;
  try {
    const stat = readFileSync(`/proc/${initPid}/stat`, 'latin1');
    ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    /* gone between the two calls */
  }
  if (ppid !== stagePid) {
    closeFd(fd);
    return null;
  }
  return fd;
}
