import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FsidmapError } from '../errors.js';
import { type Digest, shortDigest } from './digest.js';
import { type ImportResult, type ImportWorkers, importImage } from './import.js';
import type { ImportPlan, StoredBlob } from './import-plan.js';
import type { LayerBlob } from './layer-unpack.js';
import { MEDIA, layerCompression } from './media-types.js';
import { canonicalJson, parseConfig, parseManifest } from './oci-json.js';
import { createStaging } from './store-lock.js';
import type { StoreRecords } from './store.js';
import { type UpperTarStats, writeUpperTar } from './upper-tar.js';

/**
 * `commit`: a container's upper directory becomes a new top layer over its
 * image. The upper dir is written as an OCI layer tar (upper-tar.ts) into
 * staging, then the new image — the base's layers, already stored, plus
 * this one — goes through the importer like any other: the tar is
 * unpacked and published by rename under the store lock, its blob kept
 * uncompressed (so its digest is its diff_id). The config gets the new
 * diff_id and a history entry; the manifest the new layer; nothing else
 * changes, so the same upper over the same base gives the same digests.
 */
/** An ordinary user's store: the upper dir is read, and the new layer unpacked, inside their namespace (user-store.ts). */
export interface CommitWorkers extends ImportWorkers {
  readonly upperTar: (upperDir: string, tarPath: string, lockFd: number) => Promise<UpperTarStats>;
}

export interface CommitResult extends ImportResult {
  readonly diffId: Digest;
  readonly upper: UpperTarStats;
}

export async function commitLayer(
  store: StoreRecords,
  upperDir: string,
  baseRef: string,
  newRef: string | undefined,
  options: { signal?: AbortSignal; comment?: string } = {},
  workers?: CommitWorkers,
): Promise<CommitResult> {
  if (!statSync(upperDir, { throwIfNoEntry: false })?.isDirectory())
    throw new FsidmapError('ERR_IMAGE_COMMIT_SOURCE', `${upperDir} is not a directory`, { context: { upperDir } });
  const baseDigest = store.lookup(baseRef);
  const base = store.mustRecord(baseDigest);
  store.ensure();
  const staging = createStaging(store.layout.tmp, workers?.removeTree);
  try {
    const tarPath = join(staging.dir, 'layer.tar');
    let upper: UpperTarStats;
    if (workers) upper = await workers.upperTar(upperDir, tarPath, staging.lockFd);
    else {
      const fd = openSync(tarPath, 'wx', 0o600);
      try {
        upper = writeUpperTar(upperDir, fd);
      } finally {
        closeSync(fd);
      }
    }
    const baseManifest = parseManifest(readFileSync(store.layout.blob(baseDigest)), `manifest ${shortDigest(baseDigest)}`);
    const baseConfigBytes = readFileSync(store.layout.blob(base.config.digest));
    parseConfig(baseConfigBytes, `config ${shortDigest(base.config.digest)}`);
    const docker = base.mediaType === MEDIA.dockerManifest;
    const layers: LayerBlob[] = base.layers.map((l, i) => ({
      open: () => createReadStream(store.layout.blob(l.digest)),
      digest: l.digest,
      compression: layerCompression(l.mediaType, `base layer ${i + 1}`),
      diffId: l.diffId,
      size: l.size,
      label: `base layer ${i + 1} (${shortDigest(l.diffId)})`,
    }));
    layers.push({
      open: () => createReadStream(tarPath, { highWaterMark: 1 << 20 }),
      digest: undefined,
      compression: 'none',
      diffId: undefined,
      label: `the upper dir ${upperDir}`,
    });
    const plan: ImportPlan = {
      kind: 'oci-layout',
      layers,
      suggestedName: undefined,
      finish: (unpacked) => {
        const top = unpacked[unpacked.length - 1];
        const cfg = JSON.parse(baseConfigBytes.toString('utf8')) as Record<string, unknown> & {
          rootfs: { diff_ids: string[] };
          history?: unknown[];
        };
        const next = {
          ...cfg,
          rootfs: { ...cfg.rootfs, diff_ids: [...cfg.rootfs.diff_ids, top.diffId] },
          history: [...(cfg.history ?? []), { created_by: `fsidmap commit${options.comment ? `: ${options.comment}` : ''}` }],
        };
        const config = blob(canonicalJson(next), base.config.mediaType);
        const manifestObj = {
          ...JSON.parse(readFileSync(store.layout.blob(baseDigest), 'utf8')),
          config: { ...baseManifest.config, mediaType: base.config.mediaType, digest: config.digest, size: config.bytes.length },
          layers: [...baseManifest.layers, { mediaType: docker ? MEDIA.dockerLayer : MEDIA.ociLayer, digest: top.digest, size: top.size }],
        };
        return { manifest: blob(canonicalJson(manifestObj), base.mediaType), config };
      },
    };
    const r = await importImage(
      store,
      plan,
      upperDir,
      {
        ...(newRef === undefined ? {} : { name: newRef }),
        ...(options.signal ? { signal: options.signal } : {}),
        kind: 'commit',
      },
      workers,
    );
    return { ...r, diffId: r.layers[r.layers.length - 1].diffId, upper };
  } finally {
    staging.dispose();
  }
}

function blob(bytes: Buffer, mediaType: string): StoredBlob {
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, mediaType };
}
