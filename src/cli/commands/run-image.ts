import { existsSync, readFileSync } from 'node:fs';
import { FsidmapError } from '../../errors.js';
import type { ImageHolds, ImageSpec } from '../../container/index.js';
import { parseEnvEntry, parseEnvFile } from '../../container/index.js';
import { parseMap } from '../../idmap/index.js';
import { type ImageStore, formatImageName, openImageStore, parseImageName } from '../../image/index.js';

/**
 * The CLI's glue between `run --image`/`container rm` and the image store:
 * the store resolves NAME[:TAG] to its layers and records which containers
 * hold them. The one place that names the store, so container/ never does.
 * The store is images/ under the state dir (environment.ts: /var/lib/fsidmap
 * for root, the user's XDG state dir otherwise, FSIDMAP_STATE_DIR over both),
 * beside containers/, so a container and the image it was made from always
 * live in the same state dir.
 */
export function containerStore(env: NodeJS.ProcessEnv): ImageStore {
  return openImageStore({ env });
}

/** The holder a container's record in the store has: `container:NAME`. */
export const holderOf = (container: string) => `container:${container}`;

export async function resolveImage(ref: string, env: NodeJS.ProcessEnv): Promise<ImageSpec> {
  const r = containerStore(env).resolve(ref);
  return {
    ref: nameAsked(ref, r.names) ?? r.names[0] ?? r.digest,
    digest: r.digest,
    config: r.config,
    layers: r.layers.map((l) => ({ diffId: l.diffId, path: l.path })),
    ...(r.fsidmap
      ? { fsidmap: { uid: parseMap(r.fsidmap.uid, "the store's uid map"), gid: parseMap(r.fsidmap.gid, "the store's gid map") } }
      : {}),
  };
}

/** NAME[:TAG] as the store spells it when ref is one of the image's names (not a digest or its prefix). */
function nameAsked(ref: string, names: readonly string[]): string | undefined {
  try {
    const n = formatImageName(parseImageName(ref));
    return names.includes(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A container made from an image holds it (`image rm` keeps the record,
 * `image gc` its layers and blobs) until the container is removed. Images
 * that are not in the store (a library caller's own layers) hold nothing.
 */
export async function imageHolds(env: NodeJS.ProcessEnv): Promise<ImageHolds | undefined> {
  const store = containerStore(env);
  return {
    async hold(container, image) {
      try {
        await store.addReference(image.digest, holderOf(container));
      } catch (e) {
        if (e instanceof FsidmapError && e.code === 'ERR_IMAGE_NOT_FOUND') return;
        throw e;
      }
    },
    async release(container) {
      if (!existsSync(store.root)) return;
      await store.removeReference(undefined, holderOf(container));
    },
  };
}

/** --env-file FILE... then --env K=V...: the pairs over the image's Env, in that order. */
export function envOverrides(files: readonly string[], entries: readonly string[], hostEnv: NodeJS.ProcessEnv): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      throw new FsidmapError('ERR_USAGE', `--env-file ${f} cannot be read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, {
        hint: 'give a file of KEY=VALUE lines',
      });
    }
    out.push(...parseEnvFile(text, `--env-file ${f}`, hostEnv));
  }
  for (const e of entries) {
    const pair = parseEnvEntry(e, '--env', hostEnv);
    if (pair) out.push(pair);
  }
  return out;
}
