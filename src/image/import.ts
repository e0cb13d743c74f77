import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { openSync, closeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FsidmapError } from '../errors.js';
import { syncFilesystem } from '../kernel/file/inode.js';
import type { TarWarning } from '../tar/warnings.js';
import type { Digest } from './digest.js';
import type { ImportPlan, StoredBlob } from './import-plan.js';
import type { ImageRecord } from './image-record.js';
import { formatImageName, parseImageName } from './image-ref.js';
import { writeJsonAtomic } from './json-file.js';
import { type LayerBlob, type LayerMeta, type LayerUnpacker, type UnpackedLayer, unpackLayerBlob } from './layer-unpack.js';
import { createStaging } from './store-lock.js';
import type { StoreRecords } from './store.js';
import { readJsonFile } from './json-file.js';

/**
 * An import in three steps. Read: the source's plan (no writes). Stage: each
 * layer the store lacks is streamed, verified and unpacked into a staging
 * directory of this import's own, its blob copied beside it; nothing in the
 * store changes, so a bad layer, a kill -9 or a crash here leaves it as it
 * was (gc removes the orphaned staging later). Publish, under the store
 * lock: each staged layer is renamed into layers/ (when another import got
 * there first, its copy is kept and ours dropped: same diff_id, same tree),
 * blobs into blobs/, then the image record and its name. Layers the store
 * already had are checked again under the lock (gc may have removed them
 * meanwhile: then they are staged anew).
 */
export interface ImportOptions {
  readonly name?: string;
  readonly signal?: AbortSignal;
  /** What the record says the image came from (default: the plan's kind). */
  readonly kind?: ImageRecord['source']['kind'];
  readonly onLayer?: (e: { readonly index: number; readonly count: number; readonly label: string; readonly reused: boolean }) => void;
}

/** How layers are unpacked and staging removed: in this process (root's store), or in an ordinary user's namespace (user-store.ts). */
export interface ImportWorkers {
  readonly unpack: LayerUnpacker;
  readonly removeTree: (path: string) => void;
}

export interface ImportResult {
  readonly ref: string | undefined;
  readonly digest: Digest;
  readonly layers: ReadonlyArray<{ readonly diffId: Digest; readonly digest: Digest; readonly reused: boolean }>;
  readonly kind: ImportPlan['kind'];
  readonly warnings: readonly TarWarning[];
}

interface Slot {
  readonly blob: LayerBlob;
  unpacked?: UnpackedLayer;
  /** dir undefined: only the blob was staged (the store had the tree). */
  staged?: { dir: string | undefined; blobPath: string };
  reused: boolean;
}

export async function importImage(
  store: StoreRecords,
  plan: ImportPlan,
  source: string,
  options: ImportOptions = {},
  workers?: ImportWorkers,
): Promise<ImportResult> {
  const nameArg = options.name ?? plan.suggestedName;
  const name =
    nameArg === undefined ? undefined : formatImageName(parseImageName(nameArg, options.name ? '--name' : 'the name the source suggests'));
  store.ensure();
  const L = store.layout;
  const staging = createStaging(L.tmp, workers?.removeTree);
  const warnings: TarWarning[] = [];
  try {
    const slots: Slot[] = plan.layers.map((blob) => ({ blob, reused: false }));
    const stage = async (i: number, unpack = true): Promise<void> => {
      const s = slots[i];
      const dir = join(staging.dir, `layer-${i}`);
      const blobPath = join(staging.dir, `blob-${i}`);
      if (workers) workers.removeTree(dir);
      else rmSync(dir, { recursive: true, force: true });
      rmSync(blobPath, { force: true });
      // Verifying a blob whose tree is stored writes no tree: it needs no namespace.
      const u =
        unpack && workers
          ? await workers.unpack(s.blob, dir, {
              blobPath,
              stagingLockFd: staging.lockFd,
              ...(options.signal ? { signal: options.signal } : {}),
            })
          : await unpackLayerBlob(s.blob, dir, { blobPath, signal: options.signal, unpack });
      s.unpacked = unpack ? u : { ...u, stats: store.layerMeta(u.diffId).stats };
      s.staged = { dir: unpack ? dir : undefined, blobPath };
      s.reused = !unpack;
      warnings.push(...u.warnings);
    };
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i];
      const known = knownLayer(store, s.blob);
      if (known) {
        s.unpacked = known;
        s.reused = true;
      } else if (s.blob.diffId !== undefined && existsSync(store.layout.layerMeta(s.blob.diffId)))
        // The tree is stored (from another image with this diff_id in another compression): verify and keep this blob only.
        await stage(i, false);
      else await stage(i);
      options.onLayer?.({ index: i, count: slots.length, label: s.blob.label, reused: s.reused });
    }
    const { manifest, config } = plan.finish(slots.map((s) => s.unpacked!));
    const manifestPath = join(staging.dir, 'manifest');
    const configPath = join(staging.dir, 'config');
    writeFileSync(manifestPath, manifest.bytes);
    writeFileSync(configPath, config.bytes);
    syncStaging(staging.dir);
    for (let attempt = 0; ; attempt++) {
      const missing = await store.lock(() => {
        // gc may have removed a tree this import counted on since it looked: those are staged again, whole.
        const lost = (s: Slot) =>
          s.staged === undefined
            ? s.reused && !knownLayer(store, s.blob)
            : s.staged.dir === undefined && !existsSync(L.layerMeta(s.unpacked!.diffId));
        const gone = slots.map((s, i) => (lost(s) ? i : -1)).filter((i) => i >= 0);
        if (gone.length > 0) return gone;
        publish(store, slots, { manifest, manifestPath }, { config, configPath }, options.kind ?? plan.kind, source, name);
        return [];
      });
      if (missing.length === 0) break;
      if (attempt >= 3) throw new FsidmapError('ERR_IMAGE_BUSY', 'layers kept disappearing while the import published (a gc loop?)');
      for (const i of missing) await stage(i);
      syncStaging(staging.dir);
    }
    return {
      ref: name,
      digest: manifest.digest,
      layers: slots.map((s) => ({ diffId: s.unpacked!.diffId, digest: s.unpacked!.digest, reused: s.reused })),
      kind: plan.kind,
      warnings,
    };
  } finally {
    staging.dispose();
  }
}

/** A layer the store already holds whole (its tree and its blob), as if it had been unpacked now; undefined when it must be staged. */
function knownLayer(store: StoreRecords, b: LayerBlob): UnpackedLayer | undefined {
  if (b.diffId === undefined) return undefined;
  const digest = b.digest ?? (b.compression === 'none' ? b.diffId : undefined);
  if (digest === undefined) return undefined;
  const meta = readJsonFile<LayerMeta>(store.layout.layerMeta(b.diffId));
  if (!meta || !existsSync(store.layout.blob(digest))) return undefined;
  return {
    digest,
    diffId: b.diffId,
    size: b.size ?? meta.uncompressedSize,
    uncompressedSize: meta.uncompressedSize,
    stats: meta.stats,
    warnings: [],
  };
}

function publish(
  store: StoreRecords,
  slots: readonly Slot[],
  m: { manifest: StoredBlob; manifestPath: string },
  c: { config: StoredBlob; configPath: string },
  kind: ImageRecord['source']['kind'],
  source: string,
  name: string | undefined,
): void {
  const L = store.layout;
  for (const s of slots) {
    if (!s.staged) continue;
    const u = s.unpacked!;
    renameSync(s.staged.blobPath, L.blob(u.digest));
    try {
      if (s.staged.dir !== undefined) renameSync(s.staged.dir, L.layerDir(u.diffId));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      // Another import (or this one, for a layer listed twice) published the same diff_id first: keep that one.
    }
    s.staged = undefined;
  }
  renameSync(m.manifestPath, L.blob(m.manifest.digest));
  renameSync(c.configPath, L.blob(c.config.digest));
  const record: ImageRecord = {
    digest: m.manifest.digest,
    mediaType: m.manifest.mediaType,
    manifestSize: m.manifest.bytes.length,
    config: { digest: c.config.digest, mediaType: c.config.mediaType, size: c.config.bytes.length },
    layers: slots.map((s) => ({
      digest: s.unpacked!.digest,
      mediaType: layerMediaType(m.manifest, slots.indexOf(s)),
      size: s.unpacked!.size,
      diffId: s.unpacked!.diffId,
    })),
    source: { kind, path: resolve(source) },
    imported: new Date().toISOString(),
  };
  const existing = store.record(record.digest);
  writeJsonAtomic(L.image(record.digest), existing ? { ...record, imported: existing.imported } : record);
  if (name) store.setNames(record.digest, [name]);
}

function layerMediaType(manifest: StoredBlob, i: number): string {
  const m = JSON.parse(manifest.bytes.toString('utf8')) as { layers: Array<{ mediaType: string }> };
  return m.layers[i].mediaType;
}

/** Staged files reach the disk before they are published, so a power cut after publishing finds whole layers (kill -9 needs only the renames). */
function syncStaging(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    syncFilesystem(fd, dir);
  } finally {
    closeSync(fd);
  }
}
