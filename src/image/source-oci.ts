import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { FsidmapError } from '../errors.js';
import { type Digest, hexOf, shortDigest } from './digest.js';
import type { ImportPlan, StoredBlob } from './import-plan.js';
import { checkConfigType, isIndexType, isManifestType, layerCompression, unknownMediaType } from './media-types.js';
import { type Descriptor, REF_NAME, malformed, parseConfig, parseIndex, parseManifest } from './oci-json.js';
import { isImageName, nameFromFile } from './image-ref.js';

/**
 * An OCI image layout directory (image-spec image-layout.md): `oci-layout`,
 * `index.json`, `blobs/<alg>/<hex>`. `pick` (a tag, as umoci and skopeo
 * write it in org.opencontainers.image.ref.name, or a manifest digest)
 * chooses the manifest when the index has several; an image index chooses
 * the platform of this machine. Every JSON blob is checked against its
 * digest and size here; layer blobs are checked while they stream.
 */
const MAX_JSON = 8 << 20;

export function isOciLayout(dir: string): boolean {
  return existsSync(join(dir, 'oci-layout')) && existsSync(join(dir, 'index.json'));
}

export function planOciLayout(dir: string, pick: string | undefined): ImportPlan {
  const layoutFile = join(dir, 'oci-layout');
  let version: unknown;
  try {
    version = (JSON.parse(readFileSync(layoutFile, 'utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch (e) {
    throw malformed(layoutFile, `unreadable (${(e as Error).message})`);
  }
  if (version !== '1.0.0') throw malformed(layoutFile, `imageLayoutVersion ${JSON.stringify(version)} is not 1.0.0`);
  const index = parseIndex(readFileSync(join(dir, 'index.json')), join(dir, 'index.json'));
  const top = chooseManifest(index.manifests, pick, dir);
  let desc = top;
  if (isIndexType(desc.mediaType)) {
    const nested = parseIndex(readJsonBlob(dir, desc, 'image index'), `index ${shortDigest(desc.digest)}`);
    desc = choosePlatform(nested.manifests, `index ${shortDigest(desc.digest)}`);
  }
  if (!isManifestType(desc.mediaType)) throw unknownMediaType(desc.mediaType, `${dir}: the chosen manifest`, 'a manifest');
  const manifestBytes = readJsonBlob(dir, desc, 'manifest');
  const manifest = parseManifest(manifestBytes, `manifest ${shortDigest(desc.digest)}`);
  if (manifest.mediaType !== undefined && manifest.mediaType !== desc.mediaType)
    throw malformed(
      `manifest ${shortDigest(desc.digest)}`,
      `its mediaType ${manifest.mediaType} differs from its descriptor's ${desc.mediaType}`,
    );
  checkConfigType(manifest.config.mediaType, `manifest ${shortDigest(desc.digest)} config`);
  const configBytes = readJsonBlob(dir, manifest.config, 'config');
  const config = parseConfig(configBytes, `config ${shortDigest(manifest.config.digest)}`);
  if (config.rootfs.diff_ids.length !== manifest.layers.length)
    throw malformed(
      `manifest ${shortDigest(desc.digest)}`,
      `it has ${manifest.layers.length} layers but its config names ${config.rootfs.diff_ids.length} diff_ids`,
    );
  const n = manifest.layers.length;
  const layers = manifest.layers.map((l, i) => {
    const label = `layer ${i + 1} of ${n} (${shortDigest(l.digest)})`;
    const compression = layerCompression(l.mediaType, label);
    const path = blobPath(dir, l, label);
    return {
      open: () => createReadStream(path, { highWaterMark: 1 << 20 }),
      digest: l.digest,
      compression,
      diffId: config.rootfs.diff_ids[i],
      size: l.size,
      label,
    };
  });
  const tag = top.annotations?.[REF_NAME];
  const base = nameFromFile(basename(dir.replace(/\/+$/, '')));
  const suggestedName =
    // umoci and skopeo write a bare tag ("latest"); some tools a whole NAME:TAG.
    tag === undefined
      ? undefined
      : tag.includes(':') && isImageName(tag)
        ? tag
        : base && isImageName(`${base}:${tag}`)
          ? `${base}:${tag}`
          : undefined;
  const stored = (bytes: Buffer, d: Descriptor): StoredBlob => ({ bytes, digest: d.digest, mediaType: d.mediaType });
  return {
    kind: 'oci-layout',
    layers,
    suggestedName: suggestedName ?? (base ? `${base}:latest` : undefined),
    finish: () => ({ manifest: stored(manifestBytes, desc), config: stored(configBytes, manifest.config) }),
  };
}

function chooseManifest(list: readonly Descriptor[], pick: string | undefined, dir: string): Descriptor {
  const tags = list.map((d) => d.annotations?.[REF_NAME]).filter((t): t is string => t !== undefined);
  if (pick !== undefined) {
    const found = list.find((d) => d.annotations?.[REF_NAME] === pick || d.digest === pick);
    if (!found)
      throw new FsidmapError('ERR_IMAGE_NOT_FOUND', `${dir} has no manifest tagged or with digest "${pick}"`, {
        context: { source: dir, pick, tags },
        hint: tags.length > 0 ? `its tags: ${tags.join(', ')}` : 'its index names no tags; pick by digest',
      });
    return found;
  }
  if (list.length === 1) return list[0];
  if (list.length === 0) throw malformed(join(dir, 'index.json'), 'the index lists no manifest');
  throw new FsidmapError('ERR_IMAGE_AMBIGUOUS', `${dir} holds ${list.length} manifests: say which one, as ${dir}:TAG`, {
    context: { source: dir, tags },
    hint: tags.length > 0 ? `its tags: ${tags.join(', ')}` : 'or by digest: DIR@sha256:…',
  });
}

const ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

function choosePlatform(list: readonly Descriptor[], where: string): Descriptor {
  const arch = ARCH[process.arch] ?? process.arch;
  const found = list.find((d) => d.platform?.os === 'linux' && d.platform.architecture === arch && isManifestType(d.mediaType));
  if (found) return found;
  throw new FsidmapError('ERR_IMAGE_NO_PLATFORM', `${where} has no manifest for linux/${arch}`, {
    context: { where, platforms: list.map((d) => `${d.platform?.os}/${d.platform?.architecture}`) },
    hint: `it has: ${list.map((d) => `${d.platform?.os ?? '?'}/${d.platform?.architecture ?? '?'}`).join(', ') || 'nothing'}`,
  });
}

/** The path of a blob the layout must hold; ERR_IMAGE_BLOB_MISSING when it does not. */
function blobPath(dir: string, d: Descriptor, what: string): string {
  const p = join(dir, 'blobs', 'sha256', hexOf(d.digest));
  let ok = false;
  try {
    ok = statSync(p).isFile();
  } catch {
    ok = false;
  }
  if (!ok)
    throw new FsidmapError('ERR_IMAGE_BLOB_MISSING', `${what} ${d.digest} is named by the image but ${p} does not exist`, {
      context: { digest: d.digest, path: p },
      hint: 'the layout is incomplete (copied partly?); copy it again with skopeo or umoci',
    });
  return p;
}

function readJsonBlob(dir: string, d: Descriptor, what: string): Buffer {
  const p = blobPath(dir, d, what);
  if (d.size > MAX_JSON)
    throw malformed(`${what} ${shortDigest(d.digest)}`, `its descriptor says ${d.size} bytes, more than a JSON document may have`);
  const bytes = readFileSync(p);
  checkBlob(bytes, d.digest, d.size, `${what} ${shortDigest(d.digest)}`);
  return bytes;
}

export function checkBlob(bytes: Buffer, digest: Digest, size: number | undefined, what: string): void {
  const got: Digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (got !== digest || (size !== undefined && size !== bytes.length))
    throw new FsidmapError(
      'ERR_IMAGE_DIGEST_MISMATCH',
      `${what}: the blob's ${got !== digest ? `digest is ${got}` : `size is ${bytes.length}, not ${size}`}`,
      {
        context: { what, expected: digest, actual: got, size: bytes.length },
        hint: 'the blob is corrupt or was replaced; nothing was stored',
      },
    );
}
