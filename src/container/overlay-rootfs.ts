import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FsidmapError, UsageError } from '../errors.js';
import { compose, IdMap } from '../idmap/index.js';
import type { Cleanup } from './cleanup.js';
import { layersView, type RootView } from './root-view.js';
import { createSaved, readSaved, removeSaved, type SavedContainer, savedPaths, type SavedPaths, updateSaved } from './saved.js';
import type { ImageHolds, ImageSpec, MapPair, RunSpec } from './spec.js';

/**
 * The rootfs of a container made from an image, as one named step of a
 * start. The stage mounts, from inside the container's user namespace,
 *   overlay -o userxattr,lowerdir=<the image's layers>,upperdir=rw/upper,workdir=rw/work
 * where every layer is an idmapped mount of the stored layer directory and
 * rw/ is one idmapped mount of the container's own directory, all with the
 * same mount map: the container's id map composed with the image's fsid map.
 * The layers are stored at the image's own ids (owners as the tar said), so
 * the image's fsid map is the identity over the ids the container maps:
 * on-disk x is the container's x, and what the container writes lands in
 * rw/upper at its own ids too — unshifted, the same whatever range the
 * container runs in (shared/docs/overlay-idmapped.md measured this
 * arrangement; docs/run.md says why each part is needed). Nothing here
 * walks a layer: a start costs the same for 100 files as for 100,000.
 */

/** At most this many layers (the stage's table; overlayfs itself takes up to 500). */
export const MAX_LAYERS = 128;

/** What the checks before a start need of an image run: the layers' union as a view, and the container's directory. */
export interface ImageRoot {
  readonly image: ImageSpec;
  /** The kept container this start resumes, or null for a new one. */
  readonly saved: SavedContainer | null;
  readonly paths: SavedPaths;
  /** The container's root as overlayfs will show it (its writable layer over the image's). */
  readonly view: RootView;
  /** Layer directories, lowest first. */
  readonly layers: readonly string[];
  readonly keep: boolean;
  readonly holds: ImageHolds | null;
}

/**
 * Which image this start runs, or null for a plain rootfs (or the host's
 * root). A named container that was kept restarts on its own writable
 * layer and the image it was made from: another image under the same name
 * is refused, and so is --rootfs.
 */
export function imageRootOf(spec: RunSpec, name: string, env: NodeJS.ProcessEnv): ImageRoot | null {
  const saved = spec.name !== undefined ? readSaved(name, env) : null;
  if (spec.rootfs !== undefined) {
    if (spec.image) throw new UsageError('--rootfs and --image both give the rootfs: choose one');
    if (saved) {
      throw new FsidmapError(
        'ERR_CONTAINER_EXISTS',
        `"${name}" is a kept container made from the image ${saved.image.ref}: it restarts on its own layer, not on --rootfs`,
        {
          context: { name, image: saved.image.ref },
          hint: `run it without --rootfs, or remove it first with fsidmap container rm ${name}`,
        },
      );
    }
    return null;
  }
  if (!spec.image && !saved) return null;
  if (saved && spec.image && spec.image.digest !== saved.image.digest) {
    throw new FsidmapError(
      'ERR_CONTAINER_IMAGE_MISMATCH',
      `the container "${name}" was made from ${saved.image.ref} (${saved.image.digest}), not from ${spec.image.ref} (${spec.image.digest})`,
      {
        context: { name, was: saved.image.digest, given: spec.image.digest },
        hint: `run it without --image to restart it, use another --name, or remove it with fsidmap container rm ${name}`,
      },
    );
  }
  const image = saved?.image ?? spec.image!;
  const layers = checkLayers(image);
  const paths = savedPaths(name, env);
  return {
    image,
    saved,
    paths,
    view: layersView([...(saved ? [paths.upper] : []), ...[...layers].reverse()]),
    layers,
    keep: spec.keep ?? spec.name !== undefined,
    holds: spec.holds ?? null,
  };
}

function checkLayers(image: ImageSpec): string[] {
  if (image.layers.length === 0) throw new FsidmapError('ERR_IMAGE_NO_LAYERS', `the image ${image.ref} has no layers`);
  if (image.layers.length > MAX_LAYERS) {
    throw new FsidmapError('ERR_IMAGE_TOO_MANY_LAYERS', `the image ${image.ref} has ${image.layers.length} layers: at most ${MAX_LAYERS}`, {
      hint: 'squash the image into fewer layers',
    });
  }
  return image.layers.map((l) => {
    let ok = false;
    try {
      ok = lstatSync(l.path).isDirectory();
    } catch {
      /* missing */
    }
    if (!ok || !l.path.startsWith('/')) {
      throw new FsidmapError('ERR_IMAGE_LAYER_MISSING', `layer ${l.diffId} of ${image.ref} is not in the store (${l.path})`, {
        context: { diffId: l.diffId, path: l.path },
        hint: 'import the image again (fsidmap image import)',
      });
    }
    return l.path;
  });
}

/**
 * The image's fsid map: where the store keeps image id x on disk (its own
 * map), else at x itself, for every id the container's map covers.
 */
export function imageFsidmaps(idmaps: MapPair, image?: ImageSpec): MapPair {
  const identity = (m: IdMap) => IdMap.from(m.extents.map((e) => ({ first: e.first, lower: e.first, count: e.count })));
  const on = { uid: identity(idmaps.uid), gid: identity(idmaps.gid) };
  // A user's store maps more ids than a container may (0..65536 against 0..65535): only the container's are mounted.
  if (image?.fsidmap) return { uid: compose(on.uid, image.fsidmap.uid), gid: compose(on.gid, image.fsidmap.gid) };
  return on;
}

/** The directories the stage mounts proc, /dev and /tmp on; an image without them gets them in its writable layer. */
const MOUNT_DIRS: ReadonlyArray<readonly [string, number]> = [
  ['proc', 0o555],
  ['dev', 0o755],
  ['tmp', 0o1777],
];

/**
 * After the name is reserved: the container's directory, made for a new
 * container (removed again if the start fails), resumed for a kept one. Its
 * removal when the container exits (--rm, or no name) is pushed on cleanup;
 * `started()` tells whether the container ran, so a failed restart keeps
 * what a kept container had.
 */
export async function openWritableLayer(
  root: ImageRoot,
  name: string,
  env: NodeJS.ProcessEnv,
  cleanup: Cleanup,
  started: () => boolean,
): Promise<{ paths: SavedPaths; record(patch: Partial<SavedContainer>): void }> {
  const isNew = root.saved === null;
  if (isNew) await root.holds?.hold(name, root.image);
  let saved: SavedContainer;
  try {
    saved = root.saved ?? createSaved(name, root.image, root.keep, env).saved;
  } catch (e) {
    await root.holds?.release(name, root.image);
    throw e;
  }
  if (!isNew && saved.keep !== root.keep) saved = updateSaved(saved, { keep: root.keep }, env);
  cleanup.push('writable layer', async () => {
    if (started() ? root.keep : !isNew) return;
    removeSaved(name, env);
    await root.holds?.release(name, root.image);
  });
  for (const [dir, mode] of MOUNT_DIRS) {
    if (root.view.resolve(dir)?.stat.isDirectory()) continue;
    const p = join(root.paths.upper, dir);
    try {
      mkdirSync(p);
      chmodSync(p, mode);
    } catch (e) {
      throw new FsidmapError(
        'ERR_RUN_ROOTFS_INCOMPLETE',
        `the image has no /${dir} to mount on, and it cannot be made in the writable layer`,
        {
          context: { path: p },
          hint: `give the image a /${dir} directory`,
          cause: e,
        },
      );
    }
  }
  return {
    paths: root.paths,
    record(patch) {
      saved = updateSaved(saved, patch, env);
    },
  };
}
