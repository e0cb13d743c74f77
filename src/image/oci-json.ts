import { FsidmapError } from '../errors.js';
import { type Digest, parseDigest } from './digest.js';

/**
 * The JSON documents of an image (OCI image-spec v1.1; Docker's v2.2 has
 * the same shape) as far as the store reads them, with the checks that let
 * the rest of the code trust them. Pure.
 */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: { readonly architecture?: string; readonly os?: string; readonly variant?: string };
}

export interface Manifest {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageIndex {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly manifests: readonly Descriptor[];
}

/** The runtime-relevant part of an image config (the `config` object of the OCI image config). */
export interface RunConfig {
  readonly User?: string;
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[] | null;
  readonly Cmd?: readonly string[] | null;
  readonly WorkingDir?: string;
  readonly Labels?: Readonly<Record<string, string>> | null;
  readonly ExposedPorts?: Readonly<Record<string, unknown>> | null;
  readonly Volumes?: Readonly<Record<string, unknown>> | null;
  readonly StopSignal?: string;
}

export interface ImageConfig {
  readonly architecture?: string;
  readonly os?: string;
  readonly created?: string;
  readonly author?: string;
  readonly config?: RunConfig;
  readonly rootfs: { readonly type: 'layers'; readonly diff_ids: readonly Digest[] };
  readonly history?: ReadonlyArray<Record<string, unknown>>;
}

export const REF_NAME = 'org.opencontainers.image.ref.name';

export function parseJson(bytes: Buffer, where: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw malformed(where, `not valid JSON (${(e as Error).message})`);
  }
}

export function malformed(where: string, why: string): FsidmapError {
  return new FsidmapError('ERR_IMAGE_MALFORMED', `${where}: ${why}`, {
    context: { where },
    hint: 'the image is damaged or was not written by an OCI-conformant tool',
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseDescriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) throw malformed(where, 'a descriptor must be an object');
  if (typeof v.mediaType !== 'string') throw malformed(where, 'the descriptor has no mediaType');
  const size = v.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw malformed(where, `bad size ${JSON.stringify(size)}`);
  return {
    mediaType: v.mediaType,
    digest: parseDigest(v.digest, where),
    size,
    ...(isObject(v.annotations) ? { annotations: v.annotations as Record<string, string> } : {}),
    ...(isObject(v.platform) ? { platform: v.platform as Descriptor['platform'] } : {}),
  };
}

export function parseIndex(bytes: Buffer, where: string): ImageIndex {
  const v = parseJson(bytes, where);
  if (!isObject(v) || v.schemaVersion !== 2) throw malformed(where, 'schemaVersion must be 2');
  if (!Array.isArray(v.manifests)) throw malformed(where, 'an index needs a "manifests" array');
  return {
    schemaVersion: 2,
    ...(typeof v.mediaType === 'string' ? { mediaType: v.mediaType } : {}),
    manifests: v.manifests.map((m, i) => parseDescriptor(m, `${where} manifests[${i}]`)),
  };
}

export function parseManifest(bytes: Buffer, where: string): Manifest {
  const v = parseJson(bytes, where);
  if (!isObject(v) || v.schemaVersion !== 2) throw malformed(where, 'schemaVersion must be 2');
  if (!Array.isArray(v.layers)) throw malformed(where, 'a manifest needs a "layers" array');
  return {
    schemaVersion: 2,
    ...(typeof v.mediaType === 'string' ? { mediaType: v.mediaType } : {}),
    config: parseDescriptor(v.config, `${where} config`),
    layers: v.layers.map((l, i) => parseDescriptor(l, `${where} layers[${i}]`)),
    ...(isObject(v.annotations) ? { annotations: v.annotations as Record<string, string> } : {}),
  };
}

export function parseConfig(bytes: Buffer, where: string): ImageConfig {
  const v = parseJson(bytes, where);
  if (!isObject(v)) throw malformed(where, 'an image config must be an object');
  const rootfs = v.rootfs;
  if (!isObject(rootfs) || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids))
    throw malformed(where, 'rootfs must be {"type": "layers", "diff_ids": [...]}');
  const diffIds = rootfs.diff_ids.map((d, i) => parseDigest(d, `${where} rootfs.diff_ids[${i}]`));
  if (v.config !== undefined && v.config !== null && !isObject(v.config)) throw malformed(where, '"config" must be an object');
  return { ...(v as object), rootfs: { type: 'layers', diff_ids: diffIds } } as ImageConfig;
}

/** A JSON document as this store writes it: keys in the order given, no spaces, so the same input gives the same digest. */
export function canonicalJson(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v), 'utf8');
}
