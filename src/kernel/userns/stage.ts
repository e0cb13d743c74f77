import { accessSync, constants } from 'node:fs';
import { FsidmapError } from '../../errors.js';
import { nativeBuildHint, nativePath } from '../../environment.js';

/**
 * Where the C stage is (native/fsidmap-stage.c, compiled by
 * scripts/build-native.sh into dist/native/). FSIDMAP_STAGE overrides it.
 */
export function stagePath(env: NodeJS.ProcessEnv = process.env): string {
  const path = nativePath('fsidmap-stage', env, 'FSIDMAP_STAGE');
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new FsidmapError('ERR_STAGE_MISSING', `the namespace stage ${path} is missing or not executable`, {
      context: { path },
      hint: nativeBuildHint('native/fsidmap-stage.c'),
    });
  }
  return path;
}
