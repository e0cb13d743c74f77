import { clip, UsageError } from '../errors.js';
import type { RangeRegistry } from './ranges.js';
import type { ImageRunConfig } from './image-config.js';

export type { MapPair } from './map-pair.js';
import type { MapPair } from './map-pair.js';

/** Where the container's id maps come from. */
export type IdSource =
  | { readonly kind: 'maps'; readonly maps: MapPair }
  /** A container allocation in the registry, under the container's name; released on exit. */
  | { readonly kind: 'allocate' };

/** Where its fsid maps come from. */
export type FsSource =
  | { readonly kind: 'maps'; readonly maps: MapPair }
  /** The on-disk range of an image or volume allocation in the registry. */
  | { readonly kind: 'registry'; readonly name: string }
  /** No fsid map: the filesystem uses the id maps, as today's kernel does (a plain bind mount). */
  | { readonly kind: 'none' };

export interface VolumeSpec {
  readonly source: string;
  /** Absolute path inside the container. */
  readonly target: string;
  readonly readonly: boolean;
  /** This volume's own fsid maps; null: the container's. */
  readonly fsidmap: MapPair | null;
}

/** One layer of an image: its diff id and its unpacked directory (owners as the tar said, whiteouts in overlayfs form). */
export interface ImageLayer {
  readonly diffId: string;
  readonly path: string;
}

/** An image to run (what the image store resolves a reference to). */
export interface ImageSpec {
  /** As the user named it (NAME:TAG), for messages and `container list`. */
  readonly ref: string;
  /** The manifest's digest: a container restarts only on the image it was made from. */
  readonly digest: string;
  readonly config: ImageRunConfig;
  /** Lowest first, as in the manifest. */
  readonly layers: readonly ImageLayer[];
  /**
   * Where the layers keep the image's ids on disk (image id → on-disk id),
   * for a store unpacked inside a user's namespace; absent: at the ids
   * themselves (root's store).
   */
  readonly fsidmap?: MapPair;
}

/**
 * Who keeps an image's layers from being removed while a container uses
 * them: the image store, through the CLI (container/ does not reach the
 * store). hold when a container is made, release when it is removed.
 */
export interface ImageHolds {
  hold(container: string, image: ImageSpec): Promise<void>;
  release(container: string, image: ImageSpec): Promise<void>;
}

/** --user: numbers, or names looked up in the image's /etc/passwd and /etc/group. */
export interface UserSpec {
  readonly user: string;
  readonly group: string | null;
}

export interface RunSpec {
  /** Unique among running containers; default fsidmap-<random>. */
  readonly name?: string;
  readonly ids: IdSource;
  readonly fs: FsSource;
  /** The image directory; absent: the host's own root, seen through the id maps. */
  readonly rootfs?: string;
  /**
   * An image of layers: the rootfs is then an overlay of them with a
   * writable layer of the container's own, stored at the image's ids.
   * Absent with a name whose container was kept: that container restarts.
   */
  readonly image?: ImageSpec;
  /** Keep the writable layer after exit, so the name restarts on it (default: true when a name is given). */
  readonly keep?: boolean;
  /** KEY=VALUE pairs over the image's Env (--env-file, then --env). */
  readonly env?: ReadonlyArray<readonly [string, string]>;
  /** CMD's working directory (default: the image's WorkingDir, else /). */
  readonly workdir?: string;
  /** Told when a container made from an image is made and removed. */
  readonly holds?: ImageHolds;
  readonly volumes?: readonly VolumeSpec[];
  readonly user?: UserSpec;
  readonly hostname?: string;
  /** With an image: the arguments after its Entrypoint (empty: its Cmd). */
  readonly command: readonly string[];
  /** Needed for ids.kind 'allocate' and fs.kind 'registry'. */
  readonly registry?: RangeRegistry;
  /** Seconds between the stop signal and SIGKILL (default 10). */
  readonly stopTimeout?: number;
  /** host (default): the host's network namespace, as before; none: one of its own with loopback only. */
  readonly network?: 'host' | 'none';
  /** CMD on a pseudo-terminal of the container's devpts, relayed to fsidmap's stdin/stdout. */
  readonly tty?: boolean;
}

/**
 * SRC:DST[:OPTIONS] where OPTIONS are ro, rw and fsidmap=MAP, separated by
 * ":" or by "," as podman writes them (SRC:DST:ro,fsidmap=MAP). MAP may
 * itself contain colons and commas (0:300000:65536,65536:400000:1), so
 * everything after "fsidmap=" is the map, but for ro/rw options after it.
 */
export function parseVolumeArg(arg: string, readMap: (text: string, what: string) => MapPair): VolumeSpec {
  const bad = (why: string) =>
    new UsageError(
      `--volume "${clip(arg)}": ${why}`,
      "the form is SRC:DST[:ro][:fsidmap=MAP] (or podman's SRC:DST:ro,fsidmap=MAP), with DST an absolute path inside the container",
    );
  let head = arg;
  const options: string[] = [];
  let fsidmap: MapPair | null = null;
  const at = /[:,]fsidmap=/.exec(arg);
  if (at) {
    head = arg.slice(0, at.index);
    let mapText = arg.slice(at.index + at[0].length);
    const after = /((?:[,:](?:ro|rw))+)$/.exec(mapText);
    if (after) {
      options.push(...after[1].split(/[,:]/).filter(Boolean));
      mapText = mapText.slice(0, after.index);
    }
    if (mapText === '') throw bad('fsidmap= needs a MAP');
    fsidmap = readMap(mapText, `fsid map of volume ${clip(head.split(':')[0])}`);
  }
  const parts = head.split(':');
  if (parts.length < 2 || parts[0] === '' || parts[1] === '') throw bad('needs SRC and DST');
  if (parts.length > 3) throw bad(`unknown option "${clip(parts.slice(3).join(':'))}" (only ro, rw and fsidmap=MAP)`);
  if (parts.length === 3) options.unshift(...parts[2].split(','));
  for (const o of options)
    if (o !== 'ro' && o !== 'rw')
      throw bad(`unknown option "${clip(o)}" (only ro, rw and fsidmap=MAP; podman's others, such as z, U or idmap, are not taken)`);
  if (options.includes('ro') && options.includes('rw')) throw bad('ro and rw both given');
  if (!parts[1].startsWith('/')) throw bad('DST must be an absolute path inside the container');
  if (parts[1].split('/').includes('..')) throw bad('DST may not contain ".."');
  return { source: parts[0], target: normalizeTarget(parts[1]), readonly: options.includes('ro'), fsidmap };
}

function normalizeTarget(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  return '/' + parts.join('/');
}

/** UID[:GID], each a number or a name. */
export function parseUserArg(arg: string): UserSpec {
  const [user, group, extra] = arg.split(':');
  const ok = (s: string | undefined) => s !== undefined && /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(s);
  if (extra !== undefined || !ok(user) || (group !== undefined && !ok(group))) {
    throw new UsageError(
      `--user "${arg}" is not UID[:GID]`,
      'give a uid (or a user name of the image), optionally :gid, e.g. --user 1000:1000',
    );
  }
  return { user: user!, group: group ?? null };
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function checkName(name: string): string {
  if (!NAME.test(name)) {
    throw new UsageError(
      `container name "${name}" is not valid`,
      'a name is 1–63 letters, digits, ".", "_" or "-", starting with a letter or digit',
    );
  }
  return name;
}
