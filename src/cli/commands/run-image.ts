import { readFileSync } from 'node:fs';
import { FsidmapError } from '../../errors.js';
import type { ImageHolds, ImageSpec } from '../../container/index.js';
import { parseEnvEntry, parseEnvFile } from '../../container/index.js';

/**
 * The CLI's glue between `run --image`/`container rm` and the image store:
 * the store resolves NAME[:TAG] to its layers and records which containers
 * hold them. The one place that names the store, so container/ never does.
 */
export async function resolveImage(ref: string, _env: NodeJS.ProcessEnv): Promise<ImageSpec> {
  throw storeMissing(ref);
}

export async function imageHolds(_env: NodeJS.ProcessEnv): Promise<ImageHolds | undefined> {
  return undefined;
}

function storeMissing(ref: string): FsidmapError {
  return new FsidmapError('ERR_IMAGE_STORE_UNAVAILABLE', `cannot resolve the image ${ref}: this build of fsidmap has no image store`, {
    hint: 'import images with fsidmap image import once the store is built in',
  });
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
