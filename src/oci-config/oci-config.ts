import { randomBytes } from 'node:crypto';
import { FsidmapError } from '../errors.js';
import { formatInline } from '../idmap/index.js';
import {
  checkInput,
  checkName,
  containerEnv,
  containerHostname,
  type MapPair,
  mapsOfRanges,
  planRun,
  type RunSpec,
} from '../container/index.js';
import { configOf } from './config-of.js';
import { checkRootPath } from './root-path.js';
import { searchWarnings } from './search-path.js';
import type { OciConfig } from './runtime-spec.js';

export interface OciConfigOptions {
  /** root.path instead of the rootfs: a mount of it that shows it through the mount maps (fsidmap mount). */
  readonly rootPath?: string;
  /** The host environment: TERM is passed on from it, as run does. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface OciConfigResult {
  readonly config: OciConfig;
  /** What run would note too (owners the fsid map leaves out, …). */
  readonly warnings: readonly string[];
}

/**
 * The config.json of the container `fsidmap run` would start from the same
 * spec: checkInput and planRun decide everything (maps, mount maps, user,
 * command, environment), and configOf only says it in the runtime-spec's
 * words. What config.json cannot say is refused before anything is read
 * from the registry.
 */
export async function ociConfigFor(spec: RunSpec, options: OciConfigOptions = {}): Promise<OciConfigResult> {
  refuseInexpressible({ image: spec.image?.ref, allocate: spec.ids.kind === 'allocate', rootfs: spec.rootfs });
  const name = checkName(spec.name ?? `fsidmap-${randomBytes(4).toString('hex')}`);
  const input = checkInput(spec, null);
  const rootfs = input.rootfs!;
  if (spec.ids.kind !== 'maps') throw new Error('unreachable: refused above');
  const idmaps = spec.ids.maps;
  const fsidmaps = await fsidmapsOf(spec);
  const plan = planRun(input, idmaps, fsidmaps);
  let rootPath = rootfs;
  if (options.rootPath !== undefined) rootPath = checkRootPath(options.rootPath, rootfs, plan.rootfsMaps);
  else if (plan.rootfsMaps !== null && fsidmaps !== null) throw rootNeedsMount(rootfs, idmaps, fsidmaps);
  const hostname = containerHostname(spec, name);
  const env = containerEnv(input, hostname, options.env ?? process.env);
  const annotations = { 'org.fsidmap.name': name, 'org.fsidmap.rootfs': rootfs };
  const searched = searchWarnings(
    [['rootfs', rootPath], ...input.volumes.map((v) => [`volume ${v.source}`, v.hostSource] as const)],
    idmaps,
  );
  return {
    config: configOf({ input, plan, hostname, env, rootPath, annotations, network: spec.network ?? 'host' }),
    warnings: [...plan.warnings, ...searched],
  };
}

/** What a config.json cannot say; the CLI asks before it resolves an image or opens the registry. */
export function refuseInexpressible(spec: {
  readonly image?: string | undefined;
  readonly allocate: boolean;
  readonly rootfs?: string | undefined;
}): void {
  if (spec.image !== undefined) {
    throw new FsidmapError('ERR_OCI_IMAGE', `oci config cannot describe an image's rootfs yet (--image ${spec.image})`, {
      hint: "run makes an overlay of the image's layers that no config.json names; unpack the image to a directory and pass --rootfs DIR",
    });
  }
  if (spec.allocate) {
    throw new FsidmapError(
      'ERR_OCI_ALLOCATE',
      'oci config cannot take --allocate: the range would stay allocated with no one to release it',
      {
        hint: 'allocate first (fsidmap alloc NAME), pass its range as --idmap, and release it when the runtime is done with the container',
      },
    );
  }
  if (spec.rootfs === undefined) {
    throw new FsidmapError('ERR_OCI_NO_ROOTFS', "oci config needs --rootfs: a config.json cannot use the host's own root as run does", {
      hint: 'give the image directory with --rootfs DIR',
    });
  }
}

async function fsidmapsOf(spec: RunSpec): Promise<MapPair | null> {
  if (spec.fs.kind === 'maps') return spec.fs.maps;
  if (spec.fs.kind === 'none') return null;
  if (!spec.registry) throw new FsidmapError('ERR_REGISTRY_UNAVAILABLE', '--fs needs the range registry');
  return mapsOfRanges(await spec.registry.fsRanges(spec.fs.name));
}

/**
 * The runtime-spec's root has no uidMappings, and crun 1.8 refuses an
 * idmapped mount at / (EINVAL): the rootfs must already be idmapped where
 * root.path points.
 */
function rootNeedsMount(rootfs: string, idmaps: MapPair, fsidmaps: MapPair): FsidmapError {
  const ids = mapFlags('', idmaps),
    fs = mapFlags('fs', fsidmaps);
  return new FsidmapError(
    'ERR_OCI_ROOTFS_IDMAP',
    "a config.json cannot idmap the rootfs: the runtime-spec's root has no uidMappings/gidMappings",
    {
      context: { rootfs },
      hint: `make the idmapped mount first, e.g. fsidmap mount ${ids} ${fs} ${rootfs} /mnt/root, and pass --root-path /mnt/root`,
    },
  );
}

function mapFlags(prefix: '' | 'fs', maps: MapPair): string {
  const u = formatInline(maps.uid),
    g = formatInline(maps.gid);
  return u === g ? `--${prefix}idmap ${u}` : `--${prefix}uidmap ${u} --${prefix}gidmap ${g}`;
}
