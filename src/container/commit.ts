import { FsidmapError } from '../errors.js';
import type { CommitResult, ImageStore } from '../image/index.js';
import { withStoppedContainer } from './containers.js';

/**
 * `fsidmap commit CONTAINER [NAME[:TAG]]`: a kept container's writable layer
 * becomes a new image, its image's layers plus one. The container's name is
 * reserved for the whole commit (as a start reserves it), so it cannot be
 * started, removed or committed twice meanwhile, and a running one is
 * refused; the upper dir is read as it is on disk, which is at the image's
 * ids (the runtime's overlay writes them unshifted), so the layer needs no
 * shifting back whatever range the container last ran in. The store's own
 * commit stages everything and publishes by rename under its lock: a kill
 * at any point leaves the store as it was or with the whole new image, and
 * the stale reservation is taken over by the next start or commit.
 */
export interface CommitOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Put in the new config's history entry (created_by "fsidmap commit: MESSAGE"). */
  readonly message?: string;
  readonly signal?: AbortSignal;
}

export interface ContainerCommit extends CommitResult {
  readonly container: string;
  /** The image the container was made from (its manifest digest). */
  readonly base: string;
}

export async function commitContainer(
  store: ImageStore,
  name: string,
  newRef: string | undefined,
  options: CommitOptions = {},
): Promise<ContainerCommit> {
  const env = options.env ?? process.env;
  return withStoppedContainer(name, env, async (saved, paths) => {
    const base = saved.image.digest;
    try {
      store.resolve(base);
    } catch (e) {
      if (e instanceof FsidmapError && (e.code === 'ERR_IMAGE_NOT_FOUND' || e.code === 'ERR_IMAGE_STORE_DAMAGED'))
        throw new FsidmapError(
          'ERR_COMMIT_BASE_MISSING',
          `the image the container "${name}" was made from (${saved.image.ref}, ${base}) is no longer in the store ${store.root}`,
          {
            context: { name, image: saved.image.ref, digest: base, store: store.root },
            hint: `import ${saved.image.ref} again (the same image gives the same digest), then commit`,
            cause: e,
          },
        );
      throw e;
    }
    const r = await store.commitLayer(paths.upper, base, newRef, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.message !== undefined ? { comment: options.message } : {}),
    });
    return { ...r, container: name, base };
  });
}
