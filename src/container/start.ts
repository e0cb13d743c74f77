import { randomBytes } from 'node:crypto';
import { FsidmapError } from '../errors.js';
import { formatCompact } from '../idmap/index.js';
import type { DetachedMount } from '../kernel/index.js';
import { Cleanup } from './cleanup.js';
import { type Container, containerHandle } from './container-handle.js';
import { checkInput, type CheckedInput, planRun, type RunPlan } from './prepare.js';
import type { MountRequest, PrivilegePort } from './privilege-port.js';
import { mapsOfRanges, type RangeRegistry } from './ranges.js';
import { defaultPort } from './root-port.js';
import { checkName, type MapPair, type RunSpec } from './spec.js';
import { abortError } from './stage-channel.js';
import { containerEnv, containerHostname, stageCommand, type StageMounts } from './stage-command.js';
import { type StdioChoice, StageProcess } from './stage-process.js';
import { type ExecContext, processStart, reserveName } from './state.js';
import { type ImageRoot, imageRootOf, openWritableLayer } from './overlay-rootfs.js';

export type { Container } from './container-handle.js';
export type { StdioChoice } from './stage-process.js';

export interface StartOptions {
  /** The container's stdin, stdout and stderr (default: fsidmap's own). */
  readonly stdio?: readonly [StdioChoice, StdioChoice, StdioChoice];
  /** Aborting stops setup and removes whatever was made so far. */
  readonly signal?: AbortSignal;
  /** Notes about the run that are not errors (e.g. an image that will show as 65534). */
  readonly onWarning?: (message: string) => void;
  /** The host environment: TERM is passed on from it. */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Who makes the mounts and writes the maps (privilege-port.ts). The caller
   * owns it and closes it. Default: fsidmap itself, as root; an ordinary user
   * passes the broker's (or uses the top-level startContainer of "fsidmap").
   */
  readonly port?: PrivilegePort;
  /** run -d: recorded in the state file, for ps and logs. */
  readonly detached?: { readonly log: string };
}

/** What every step of a start shares: the one owner of what it made, and the abort signal. */
interface Setup {
  readonly cleanup: Cleanup;
  readonly signal: AbortSignal | undefined;
  checkAbort(): void;
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
  const port = options.port ?? defaultPort();
  const hostEnv = options.env ?? process.env;
  const { input, name } = checkStart(spec, hostEnv);
  const setup = setupOf(options.signal);
  let started = false;
  try {
    setup.checkAbort();
    const early = planExplicit(spec, input);
    const state = reserveName({ name, stagePid: null, initPid: null, rootfs: input.rootfs, uidMap: '', gidMap: '' }, hostEnv);
    setup.cleanup.push('state file', () => state.release());
    const layer = input.image ? await openWritableLayer(input.image, name, hostEnv, setup.cleanup, () => started) : null;
    const plan = early ?? (await planFromRegistry(spec, input, name, setup));
    for (const w of plan.warnings) options.onWarning?.(w);
    const uidMap = formatCompact(plan.idmaps.uid).trim(),
      gidMap = formatCompact(plan.idmaps.gid).trim();
    state.update({
      uidMap,
      gidMap,
      network: spec.network ?? 'host',
      fs: input.image ? input.image.image.ref : fsOf(spec),
      exec: execContext(input, containerEnv(input, containerHostname(spec, name), hostEnv)),
      ...(options.detached ? { detached: true, log: options.detached.log } : {}),
    });
    const mounts = await makeMounts(port, input, plan, setup);
    const staged = stageCommand({ spec, name, input, plan, mounts, attach: port.attach, hostEnv });
    const stage = StageProcess.spawn(staged, options.stdio ?? ['inherit', 'inherit', 'inherit'], hostEnv, setup.cleanup);
    // The stage has its own copies of the mount fds now; ours go.
    for (const m of [mounts.rootfs, ...mounts.volumes, ...mounts.layers, mounts.rw]) m?.close();
    await stage.expect('ready', setup.signal);
    await port.writeMaps(stage.pid, plan.idmaps);
    const init = await stage.go(setup.signal);
    state.update({ stagePid: stage.pid, initPid: init.pid, initStart: processStart(init.pid) });
    await stage.expect('running', setup.signal);
    started = true;
    layer?.record({ lastStartedAt: new Date().toISOString(), lastUidMap: uidMap, lastGidMap: gidMap });
    stage.closeChannel();
    return containerHandle({ name, plan, stage, init, stopTimeout: spec.stopTimeout ?? 10, cleanup: setup.cleanup });
  } catch (e) {
    await setup.cleanup.run().catch(() => {
      /* the first error is the one to report */
    });
    throw e;
  }
}

/** Everything about the spec that needs no maps, and the container's name. */
function checkStart(spec: RunSpec, hostEnv: NodeJS.ProcessEnv): { input: CheckedInput; name: string } {
  const name = checkName(spec.name ?? `fsidmap-${randomBytes(4).toString('hex')}`);
  const image: ImageRoot | null = imageRootOf(spec, name, hostEnv);
  return { input: checkInput(spec, image), name };
}

function setupOf(signal: AbortSignal | undefined): Setup {
  return {
    cleanup: new Cleanup(),
    signal,
    checkAbort() {
      if (signal?.aborted) throw abortError(signal);
    },
  };
}

/** With explicit maps everything is checked before the name is reserved; null when the registry must answer first. */
function planExplicit(spec: RunSpec, input: CheckedInput): RunPlan | null {
  if (spec.ids.kind !== 'maps' || spec.fs.kind === 'registry') return null;
  return planRun(input, spec.ids.maps, spec.fs.kind === 'maps' ? spec.fs.maps : null);
}

/** --allocate / --fs: the maps are known only once the registry has answered; a refusal after it releases the allocation. */
async function planFromRegistry(spec: RunSpec, input: CheckedInput, name: string, setup: Setup): Promise<RunPlan> {
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
    // A container made from an image owns its files at the image's ids, whatever its range: each start
    // takes a fresh random one, under a name of its own (NAME@random), rather than the name's hash slot.
    const allocation = input.image ? `${name}@${randomBytes(4).toString('hex')}` : name;
    const ranges = await reg.acquireContainer(allocation, spec.fs.kind === 'registry' ? { fs: spec.fs.name } : {});
    setup.cleanup.push('container allocation', () => reg.releaseContainer(allocation));
    idmaps = mapsOfRanges(ranges);
  }
  setup.checkAbort();
  return planRun(input, idmaps, fsidmaps);
}

/**
 * The rootfs (a directory, or an image's layers and the writable layer's
 * directory) and the volumes, in one request to the port; each mount it
 * makes is closed by cleanup too.
 */
async function makeMounts(port: PrivilegePort, input: CheckedInput, plan: RunPlan, setup: Setup): Promise<StageMounts> {
  const image = input.image;
  const root: MountRequest[] = image
    ? [
        ...image.layers.map((source) => ({ source, maps: plan.rootfsMaps, readonly: true })),
        { source: image.paths.rwDir, maps: plan.rootfsMaps, readonly: false },
      ]
    : input.rootfs === null
      ? []
      : [{ source: input.rootfs, maps: plan.rootfsMaps, readonly: false }];
  const requests: MountRequest[] = [
    ...root,
    ...input.volumes.map((v, i) => ({ source: v.hostSource, maps: plan.volumeMaps[i], readonly: v.readonly })),
  ];
  const made = await port.mount(requests, setup.signal);
  for (const m of made) if (m) setup.cleanup.push(`detached mount of ${m.source}`, () => m.close());
  setup.checkAbort();
  const volumes = made.slice(root.length);
  if (image) {
    const layers = made.slice(0, image.layers.length);
    const rw = made[image.layers.length];
    if (layers.some((m) => m === null) || rw === null) {
      throw new FsidmapError('ERR_RUN_SETUP', `the ${port.kind} made no idmapped mount of the image's layers`);
    }
    return { rootfs: null, layers: layers as DetachedMount[], rw, volumes };
  }
  return { rootfs: input.rootfs === null ? null : made[0], layers: [], rw: null, volumes };
}

/** What `fsidmap exec` joins by default: CMD's user, environment and working directory. */
function execContext(input: CheckedInput, env: Readonly<Record<string, string>>): ExecContext {
  const u = input.user;
  return { uid: u.uid, gid: u.gid, groups: [...u.groups], env: { ...env }, cwd: input.cwd ?? '/' };
}

/** The rootfs's fsid map as ps shows it: the uid map's compact form. */
function fsOf(spec: RunSpec): string | null {
  if (spec.fs.kind === 'registry') return `fs ${spec.fs.name}`;
  if (spec.fs.kind === 'maps') return formatCompact(spec.fs.maps.uid).trim();
  return null;
}
