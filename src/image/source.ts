import { existsSync, statSync } from 'node:fs';
import { FsidmapError } from '../errors.js';
import type { ImportPlan } from './import-plan.js';
import { isOciLayout, planOciLayout } from './source-oci.js';
import { planTarFile } from './source-tar.js';

/**
 * SOURCE as `image import` takes it: a path, optionally followed by what to
 * pick inside it, as skopeo writes transports: DIR:TAG or DIR@sha256:… for
 * an OCI layout, FILE:NAME:TAG for a docker-archive. The kind is told by
 * content, never by file name. Reads only.
 */
export function splitSource(source: string): { path: string; pick: string | undefined } {
  if (existsSync(source)) return { path: source, pick: undefined };
  const at = source.lastIndexOf('@sha256:');
  if (at > 0 && existsSync(source.slice(0, at))) return { path: source.slice(0, at), pick: source.slice(at + 1) };
  for (let i = source.indexOf(':'); i > 0; i = source.indexOf(':', i + 1))
    if (existsSync(source.slice(0, i))) return { path: source.slice(0, i), pick: source.slice(i + 1) };
  throw new FsidmapError('ERR_IMAGE_SOURCE_MISSING', `${source} does not exist`, {
    context: { source },
    hint: 'SOURCE is an OCI layout directory (DIR or DIR:TAG), a docker-archive tar, or a rootfs tar or tar.gz',
  });
}

export function planSource(source: string): ImportPlan {
  const { path, pick } = splitSource(source);
  const st = statSync(path);
  if (st.isDirectory()) {
    if (isOciLayout(path)) return planOciLayout(path, pick);
    throw new FsidmapError('ERR_IMAGE_SOURCE_KIND', `${path} is a directory but not an OCI image layout (no oci-layout and index.json)`, {
      context: { source: path },
      hint: 'make one with `umoci init` / `skopeo copy … oci:DIR`, or pack a rootfs directory as a tar first',
    });
  }
  if (!st.isFile())
    throw new FsidmapError('ERR_IMAGE_SOURCE_KIND', `${path} is neither a directory nor a file`, { context: { source: path } });
  return planTarFile(path, pick);
}
