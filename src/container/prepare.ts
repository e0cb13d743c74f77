import { lstatSync, realpathSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { clip, FsidmapError, UsageError } from '../errors.js';
import { formatInline, type IdMap, mountMap } from '../idmap/index.js';
import { type CheckedMaps, checkMaps, readOwnMaps } from '../kernel/index.js';
import { findCommand } from './in-root.js';
import { dirView, type RootView } from './root-view.js';
import { commandOf, imageEnv, mergeEnv, workdirOf } from './image-config.js';
import { imageFsidmaps, type ImageRoot } from './overlay-rootfs.js';
import { parseUserArg } from './spec.js';
import { checkOwners } from './owners-check.js';
import { resolveUser, type ResolvedUser } from './image-users.js';
import type { MapPair, RunSpec, VolumeSpec } from './spec.js';
import { assertNotKnownUnsupported } from '../host/index.js';

/**
 * Everything about a run that can be checked before anything is created:
 * bad input is refused here with an error naming what is wrong and what to
 * do. checkInput needs no maps; planRun needs the resolved maps (after a
 * registry allocation) and produces the mount plan the stage executes.
 */

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface CheckedInput {
  /** realpath of the rootfs (with an image: where the overlay is mounted), or null for the host's own root. */
  readonly rootfs: string | null;
  /** The image run's rootfs, or null. */
  readonly image: ImageRoot | null;
  /** What CMD is: the run's arguments, after the image's Entrypoint (or its Cmd). */
  readonly command: readonly string[];
  /** The environment over fsidmap's defaults: the image's Env, then the run's. */
  readonly env: Readonly<Record<string, string>>;
  /** CMD's working directory, or null for /. */
  readonly cwd: string | null;
  readonly volumes: ReadonlyArray<VolumeSpec & { readonly hostSource: string; readonly hostTarget: string }>;
  readonly user: ResolvedUser;
}

export function assertRoot(): void {
  if (process.geteuid?.() !== 0) {
    throw new FsidmapError(
      'ERR_NOT_ROOT',
      'fsidmap run/mount need root: idmapped mounts and maps of ranges need CAP_SYS_ADMIN and CAP_SETUID in the initial user namespace',
      {
        hint: 'run it as root (sudo); unprivileged users go through the fsidmap broker',
      },
    );
  }
}

export function checkInput(spec: RunSpec, image: ImageRoot | null = null): CheckedInput {
  const config = image?.image.config ?? null;
  const command = commandOf(config, spec.command);
  if (command.length === 0 || command[0] === '') {
    throw new UsageError(
      image ? `no command: the image ${image.image.ref} has neither Entrypoint nor Cmd` : 'no command to run',
      'put the command after --, e.g. fsidmap run --idmap 0:100000:65536 -- /bin/sh',
    );
  }
  if (spec.hostname !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62}[A-Za-z0-9])?$/.test(spec.hostname)) {
    throw new UsageError(
      `--hostname "${spec.hostname}" is not a valid host name`,
      'letters, digits, "-" and ".", at most 64, starting and ending with a letter or digit',
    );
  }
  const env = mergeEnv(imageEnv(config), spec.env ?? []);
  const path = env.PATH ?? DEFAULT_PATH;
  let rootfs: string | null = null;
  let view: RootView | null = null;
  if (image) {
    rootfs = image.paths.mountpoint;
    view = image.view;
  } else if (spec.rootfs !== undefined) {
    rootfs = realDir(spec.rootfs, 'rootfs', 'ERR_RUN_ROOTFS_MISSING');
    view = dirView(rootfs);
    const missing = ['proc', 'dev', 'tmp'].filter((d) => !view!.resolve(d)?.stat.isDirectory());
    if (missing.length > 0) {
      throw new FsidmapError(
        'ERR_RUN_ROOTFS_INCOMPLETE',
        `the rootfs ${rootfs} has no ${missing.map((d) => `/${d}`).join(', ')} director${missing.length === 1 ? 'y' : 'ies'} to mount on`,
        {
          context: { rootfs, missing },
          hint: `create ${missing.map((d) => `/${d}`).join(' and ')} in the image (fsidmap does not change the image itself)`,
        },
      );
    }
  }
  if (view !== null && findCommand(view, command[0], path) === null) {
    throw new FsidmapError(
      'ERR_RUN_CMD_NOT_FOUND',
      `${command[0]}: no such executable in ${image ? view.description : `the rootfs ${rootfs}`}${command[0].includes('/') ? '' : ` (searched ${path})`}`,
      {
        context: { command: command[0], rootfs },
        hint: 'give a command the image has, by its path inside the image',
      },
    );
  }
  const cwd = image || spec.workdir !== undefined ? workdirOf(config, spec.workdir) : null;
  if (cwd !== null && cwd !== '/') {
    const found = view === null ? statOrNull(cwd) : (view.resolve(cwd)?.stat ?? null);
    if (!found?.isDirectory()) {
      throw new FsidmapError('ERR_RUN_WORKDIR_MISSING', `the working directory ${cwd} is not a directory in the container`, {
        context: { workdir: cwd },
        hint: 'give --workdir a directory the image has',
      });
    }
  }
  // The stage's fixed tables (native/fsidmap-stage.c).
  if ((spec.volumes ?? []).length > 64) throw new UsageError(`${spec.volumes!.length} volumes: at most 64`);
  const targets = new Set<string>();
  const volumes = (spec.volumes ?? []).map((v) => {
    const hostSource = realpathOr(v.source, `volume source ${v.source}`, 'ERR_RUN_VOLUME_MISSING');
    if (targets.has(v.target)) throw new UsageError(`two volumes are mounted at ${v.target}`, 'give each volume its own DST');
    targets.add(v.target);
    if (v.target === '/' || /^\/(proc|dev|tmp)(\/|$)/.test(v.target)) {
      throw new UsageError(`volume DST ${v.target} is where fsidmap mounts proc, /dev or /tmp`, 'mount the volume somewhere else');
    }
    const inside = view === null ? statOrNull(v.target) : (view.resolve(v.target)?.stat ?? null);
    if (inside === null) {
      throw new FsidmapError(
        'ERR_RUN_VOLUME_TARGET_MISSING',
        `volume DST ${v.target} does not exist ${rootfs === null ? 'on the host' : 'in the rootfs'}`,
        {
          context: { target: v.target },
          hint: rootfs === null ? 'create it' : 'create it in the image (fsidmap does not change the image itself)',
        },
      );
    }
    const srcDir = statSync(hostSource).isDirectory();
    if (srcDir !== inside.isDirectory()) {
      throw new UsageError(
        `volume ${v.source} is a ${srcDir ? 'directory' : 'file'} but DST ${v.target} is not`,
        'mount directories on directories and files on files',
      );
    }
    return { ...v, hostSource, hostTarget: rootfs === null ? v.target : join(rootfs, v.target) };
  });
  const userSpec = spec.user ?? (config?.User ? parseUserArg(config.User) : undefined);
  const user = resolveUser(userSpec, view ?? '/');
  if (user.groups.length > 1024)
    throw new FsidmapError('ERR_RUN_BAD_USER', `the user has ${user.groups.length} groups in the image; fsidmap passes at most 1024`);
  return { rootfs, image, command, env, cwd, volumes, user };
}

/** What the stage is told to do, all maps resolved and checked. */
export interface RunPlan {
  /** The container's id maps, with the bytes its uid_map and gid_map get. */
  readonly idmaps: CheckedMaps;
  /** Mount maps of the rootfs (on-disk id → kernel id), or null for a plain bind mount. */
  readonly rootfsMaps: CheckedMaps | null;
  readonly volumeMaps: ReadonlyArray<CheckedMaps | null>;
  readonly devptsGid: number | null;
  readonly warnings: readonly string[];
}

/**
 * fsidmaps null means "no fsid map": the filesystem is seen through the id
 * maps, as on today's kernel, which is a plain bind mount. parent is the
 * namespace the maps will be written from (fsidmap's own, read once here);
 * every map is checked against it once, and the plan keeps what was checked.
 */
export function planRun(input: CheckedInput, idmaps: MapPair, fsidmaps: MapPair | null, parent: MapPair = readOwnMaps()): RunPlan {
  const ids = checkMaps(idmaps, parent);
  const u = input.user;
  const unmapped = [
    ...(idmaps.uid.mapIdDown(u.uid) === undefined ? [`uid ${u.uid}`] : []),
    ...u.groups.filter((g) => idmaps.gid.mapIdDown(g) === undefined).map((g) => `gid ${g}`),
  ];
  if (unmapped.length > 0) {
    throw new FsidmapError(
      'ERR_RUN_USER_UNMAPPED',
      `--user: ${unmapped.join(', ')} ${unmapped.length === 1 ? 'is' : 'are'} not mapped by the container's id map`,
      {
        context: { unmapped },
        hint: "choose ids inside the id map's first column",
      },
    );
  }
  const warnings: string[] = [];
  for (const [kind, map] of [
    ['uid', idmaps.uid],
    ['gid', idmaps.gid],
  ] as const) {
    if (map.mapIdDown(0) === 0)
      warnings.push(
        `the id map sends the container's ${kind} 0 to host ${kind} 0: root in the container is root on the host, with no isolation by user namespace; give it a range of its own (e.g. --idmap 0:100000:65536, or --allocate)`,
      );
  }
  // One mount map per distinct fsid map: the rootfs and the volumes without their own share the container's.
  const mountMaps = new Map<MapPair, CheckedMaps>();
  const mounts = (fs: MapPair | null, what: string): CheckedMaps | null => {
    if (fs === null) return null;
    let m = mountMaps.get(fs);
    if (!m) {
      m = checkMaps({ uid: mountMapOf(idmaps.uid, fs.uid, `${what} (uid)`), gid: mountMapOf(idmaps.gid, fs.gid, `${what} (gid)`) }, parent);
      mountMaps.set(fs, m);
    }
    return m;
  };
  let rootfsMaps: CheckedMaps | null = null;
  if (input.image !== null) {
    // The layers and the writable layer are stored at the image's ids: one mount map for them all.
    for (const l of input.image.layers) assertNotKnownUnsupported(l);
    rootfsMaps = mounts(imageFsidmaps(idmaps, input.image.image), 'image layers');
  } else if (input.rootfs !== null) {
    // The support cache answers now, before anything is made, when this filesystem was seen before.
    if (fsidmaps) assertNotKnownUnsupported(input.rootfs);
    rootfsMaps = mounts(fsidmaps, 'rootfs');
    if (fsidmaps) warnings.push(...checkOwners(input.rootfs, fsidmaps, 'rootfs', true));
    else warnUnmapped(input.rootfs, idmaps, warnings);
  }
  const volumeMaps = input.volumes.map((v) => {
    const fs = v.fsidmap ?? fsidmaps;
    if (fs) assertNotKnownUnsupported(v.hostSource);
    if (fs)
      warnings.push(
        ...checkOwners(v.hostSource, fs, `volume ${v.source}`, true, (m) => `--volume ${clip(v.source)}:${clip(v.target)}:fsidmap=${m}`),
      );
    return mounts(fs, `volume ${v.source}`);
  });
  const devptsGid = idmaps.gid.mapIdDown(5) === undefined ? null : 5;
  return { idmaps: ids, rootfsMaps, volumeMaps, devptsGid, warnings };
}

function mountMapOf(idmap: IdMap, fsidmap: IdMap, what: string): IdMap {
  try {
    return mountMap(idmap, fsidmap);
  } catch (e) {
    if (e instanceof FsidmapError) throw new FsidmapError(e.code, `${what}: ${e.message}`, { context: e.context, hint: e.hint, cause: e });
    throw e;
  }
}

function warnUnmapped(rootfs: string, idmaps: MapPair, warnings: string[]): void {
  const st = lstatSync(rootfs);
  if (idmaps.uid.mapIdUp(st.uid) === undefined) {
    const count = idmaps.uid.extents[0]?.count ?? 65536;
    warnings.push(
      `the rootfs is owned by ${st.uid}:${st.gid} on disk, which the id map ${formatInline(idmaps.uid)} does not map: without an fsid map it shows as 65534 inside and root there cannot change it (with --fsidmap 0:${st.uid}:${count} it would show as 0)`,
    );
  }
}

function realDir(path: string, what: string, code: string): string {
  const real = realpathOr(path, `${what} ${path}`, code);
  if (!statSync(real).isDirectory()) throw new FsidmapError(code, `${what} ${path} is not a directory`, { context: { path } });
  return real;
}

function realpathOr(path: string, what: string, code: string): string {
  try {
    return realpathSync(path);
  } catch {
    throw new FsidmapError(code, `${what} does not exist`, { context: { path }, hint: 'check the path' });
  }
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}
