import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { basename, posix } from 'node:path';
import { Readable } from 'node:stream';
import { FsidmapError, isFsidmapError } from '../errors.js';
import { detectCompression } from '../tar-io/compression.js';
import { type Digest, parseDigest } from './digest.js';
import type { ImportPlan, StoredBlob } from './import-plan.js';
import { isImageName, nameFromFile } from './image-ref.js';
import type { LayerBlob, UnpackedLayer } from './layer-unpack.js';
import { MEDIA } from './media-types.js';
import { canonicalJson, malformed, parseConfig, parseJson } from './oci-json.js';
import { type TarMember, indexTar } from './tar-index.js';

/**
 * Sources that are one tar file: a docker-archive (what `docker save` and
 * `skopeo copy … docker-archive:` write: manifest.json naming a config and
 * layer tars inside the archive) or a plain rootfs tar or tar.gz (what
 * mmdebstrap writes), imported as a one-layer image. Neither carries an OCI
 * manifest, so one is made for it once its layers are read, with OCI media
 * types and keys in a fixed order: the same file gives the same digests.
 */
export function planTarFile(file: string, pick: string | undefined): ImportPlan {
  const head = Buffer.alloc(6);
  const fd = openSync(file, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, 6, 0);
  } finally {
    closeSync(fd);
  }
  const compression = detectCompression(head.subarray(0, n));
  if (compression === 'none') {
    // A docker-archive's members sit at most two directories down (blobs/sha256/HEX); a rootfs soon goes deeper.
    let index: ReturnType<typeof indexTar>;
    try {
      index = indexTar(file, (m) => m.path.split('/').length > 3);
    } catch (e) {
      if (!isFsidmapError(e) || !e.code.startsWith('ERR_TAR_')) throw e;
      throw new FsidmapError('ERR_IMAGE_SOURCE_KIND', `${file} is not an image: neither a docker-archive nor a rootfs tar (${e.message})`, {
        context: { source: file, ...e.context },
        hint: 'SOURCE is an OCI layout directory, a docker-archive tar, or a rootfs tar or tar.gz',
        cause: e,
      });
    }
    const { members, stopped } = index;
    if (!stopped && members.get('manifest.json')?.type === 'file') return planDockerArchive(file, members, pick);
  }
  if (pick !== undefined)
    throw new FsidmapError('ERR_IMAGE_NOT_FOUND', `${file} is a plain rootfs tar: it has no tags to pick "${pick}" from`, {
      context: { source: file, pick },
      hint: 'name the image with --name instead',
    });
  return planRootfsTar(file, compression);
}

function planRootfsTar(file: string, compression: 'none' | 'gzip'): ImportPlan {
  const layer: LayerBlob = {
    open: () => createReadStream(file, { highWaterMark: 1 << 20 }),
    digest: undefined,
    compression,
    diffId: undefined,
    label: `rootfs ${basename(file)}`,
  };
  const base = nameFromFile(basename(file));
  return {
    kind: 'rootfs-tar',
    layers: [layer],
    suggestedName: base ? `${base}:latest` : undefined,
    finish: ([l]) => {
      const config = blob(
        canonicalJson({
          architecture: ociArch(),
          os: 'linux',
          config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
          rootfs: { type: 'layers', diff_ids: [l.diffId] },
          history: [{ created_by: `fsidmap image import ${basename(file)}` }],
        }),
        MEDIA.ociConfig,
      );
      return { manifest: makeManifest(config, [l], [compression]), config };
    },
  };
}

function planDockerArchive(file: string, members: ReadonlyMap<string, TarMember>, pick: string | undefined): ImportPlan {
  const read = (m: TarMember): Buffer => readRange(file, m.offset, m.size);
  const entries = parseJson(read(members.get('manifest.json')!), `${file} manifest.json`);
  if (!Array.isArray(entries) || entries.length === 0) throw malformed(`${file} manifest.json`, 'must be a non-empty array');
  type Entry = { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
  const tagsOf = (e: Entry): string[] => (Array.isArray(e.RepoTags) ? e.RepoTags.filter((t): t is string => typeof t === 'string') : []);
  let entry: Entry;
  if (pick !== undefined) {
    const found = (entries as Entry[]).find((e) => tagsOf(e).includes(pick));
    if (!found)
      throw new FsidmapError('ERR_IMAGE_NOT_FOUND', `${file} has no image tagged "${pick}"`, {
        context: { source: file, pick },
        hint: `its tags: ${(entries as Entry[]).flatMap(tagsOf).join(', ') || 'none'}`,
      });
    entry = found;
  } else if (entries.length === 1) entry = entries[0] as Entry;
  else
    throw new FsidmapError('ERR_IMAGE_AMBIGUOUS', `${file} holds ${entries.length} images: say which one, as ${file}:NAME:TAG`, {
      context: { source: file },
      hint: `its tags: ${(entries as Entry[]).flatMap(tagsOf).join(', ') || 'none'}`,
    });
  if (typeof entry.Config !== 'string' || !Array.isArray(entry.Layers))
    throw malformed(`${file} manifest.json`, 'an entry needs "Config" and "Layers"');
  const configMember = member(file, members, entry.Config);
  const configBytes = read(configMember);
  const where = `${file} ${entry.Config}`;
  const config = parseConfig(configBytes, where);
  // The config's file name is its digest when skopeo or docker wrote it (HEX.json or blobs/sha256/HEX): check it too.
  const named = /(?:^|\/)([0-9a-f]{64})(?:\.json)?$/.exec(entry.Config);
  const configDigest: Digest = `sha256:${createHash('sha256').update(configBytes).digest('hex')}`;
  if (named && `sha256:${named[1]}` !== configDigest)
    throw new FsidmapError(
      'ERR_IMAGE_DIGEST_MISMATCH',
      `${where}: the config's digest is ${configDigest}, its name says sha256:${named[1]}`,
      {
        context: { expected: `sha256:${named[1]}`, actual: configDigest },
        hint: 'the archive is corrupt; nothing was stored',
      },
    );
  const layerPaths = entry.Layers as unknown[];
  if (layerPaths.length !== config.rootfs.diff_ids.length)
    throw malformed(
      where,
      `manifest.json lists ${layerPaths.length} layers but the config names ${config.rootfs.diff_ids.length} diff_ids`,
    );
  const n = layerPaths.length;
  const compressions: Array<'none' | 'gzip'> = [];
  const layers: LayerBlob[] = layerPaths.map((p, i) => {
    if (typeof p !== 'string') throw malformed(`${file} manifest.json`, `Layers[${i}] is not a path`);
    const m = member(file, members, p);
    const compression = detectCompression(readRange(file, m.offset, Math.min(6, m.size)));
    compressions.push(compression);
    const diffId = parseDigest(config.rootfs.diff_ids[i], `${where} rootfs.diff_ids[${i}]`);
    return {
      open: () =>
        m.size === 0 ? Readable.from([]) : createReadStream(file, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 1 << 20 }),
      digest: undefined,
      compression,
      diffId,
      size: m.size,
      label: `layer ${i + 1} of ${n} (${p})`,
    };
  });
  // Docker writes Docker Hub names in full; the store keeps them as people type them.
  const tag = tagsOf(entry)
    .map((t) => t.replace(/^docker\.io\/(library\/)?/, ''))
    .find(isImageName);
  const base = nameFromFile(basename(file));
  return {
    kind: 'docker-archive',
    layers,
    suggestedName: tag ?? (base ? `${base}:latest` : undefined),
    finish: (unpacked) => {
      const cfg = blob(configBytes, MEDIA.ociConfig);
      return { manifest: makeManifest(cfg, unpacked, compressions), config: cfg };
    },
  };
}

/** A member by the path manifest.json gives, following the symlinks docker save writes for repeated layers. */
function member(file: string, members: ReadonlyMap<string, TarMember>, path: string): TarMember {
  let p = posix.normalize(path);
  for (let hops = 0; hops < 8; hops++) {
    const m = members.get(p);
    if (m === undefined) break;
    if (m.type === 'file') return m;
    if (m.type !== 'symlink') break;
    p = posix.normalize(posix.join(posix.dirname(p), m.linkpath));
  }
  throw new FsidmapError('ERR_IMAGE_BLOB_MISSING', `${file}: manifest.json names ${path}, which the archive does not hold as a file`, {
    context: { source: file, member: path },
    hint: 'the archive is incomplete or damaged; write it again (docker save, skopeo copy)',
  });
}

function readRange(file: string, offset: number, size: number): Buffer {
  if (size <= 0) return Buffer.alloc(0);
  const out = Buffer.alloc(size);
  const fd = openSync(file, 'r');
  try {
    let got = 0;
    while (got < size) {
      const k = readSync(fd, out, got, size - got, offset + got);
      if (k === 0) break;
      got += k;
    }
    return out.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function blob(bytes: Buffer, mediaType: string): StoredBlob {
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, mediaType };
}

export function makeManifest(config: StoredBlob, layers: readonly UnpackedLayer[], compressions: readonly ('none' | 'gzip')[]): StoredBlob {
  return blob(
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.bytes.length },
      layers: layers.map((l, i) => ({
        mediaType: compressions[i] === 'gzip' ? MEDIA.ociLayerGzip : MEDIA.ociLayer,
        digest: l.digest,
        size: l.size,
      })),
    }),
    MEDIA.ociManifest,
  );
}

export function ociArch(): string {
  return ({ x64: 'amd64', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch;
}
