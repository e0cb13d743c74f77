import { FsidmapError } from '../errors.js';

/**
 * The media types the store reads (OCI image-spec v1.1 and Docker's v2.2
 * schema), told apart once here. A type not listed is refused with its name,
 * never guessed at. Pure.
 */
export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export type LayerCompression = 'none' | 'gzip';

const LAYERS: Readonly<Record<string, LayerCompression | 'zstd'>> = {
  [MEDIA.ociLayer]: 'none',
  [MEDIA.ociLayerGzip]: 'gzip',
  [MEDIA.ociLayerZstd]: 'zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
  [MEDIA.dockerLayer]: 'none',
  [MEDIA.dockerLayerGzip]: 'gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
};

export function isIndexType(t: string | undefined): boolean {
  return t === MEDIA.ociIndex || t === MEDIA.dockerList;
}

export function isManifestType(t: string | undefined): boolean {
  return t === MEDIA.ociManifest || t === MEDIA.dockerManifest;
}

export function checkConfigType(t: unknown, where: string): void {
  if (t === MEDIA.ociConfig || t === MEDIA.dockerConfig) return;
  throw unknownMediaType(t, where, 'an image config');
}

/** How a layer blob is compressed, from its media type; zstd and unknown types are refused. */
export function layerCompression(t: unknown, where: string): LayerCompression {
  const c = typeof t === 'string' ? LAYERS[t] : undefined;
  if (c === 'zstd')
    throw new FsidmapError('ERR_IMAGE_MEDIA_TYPE', `${where}: layer media type ${t} (zstd) is not supported by this Node.js`, {
      context: { where, mediaType: t },
      hint: 'convert the image to gzip layers: skopeo copy --dest-compress-format gzip oci:SRC oci:DST',
    });
  if (c === undefined) throw unknownMediaType(t, where, 'a layer');
  return c;
}

export function unknownMediaType(t: unknown, where: string, what: string): FsidmapError {
  return new FsidmapError('ERR_IMAGE_MEDIA_TYPE', `${where}: ${JSON.stringify(t)} is not a media type fsidmap reads for ${what}`, {
    context: { where, mediaType: t },
    hint: 'fsidmap reads OCI image-spec v1 and Docker v2.2 images (tar or tar+gzip layers)',
  });
}
