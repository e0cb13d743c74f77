import { closeSync, openSync } from 'node:fs';
import { isFsidmapError } from '../errors.js';
import type { Digest } from './digest.js';
import { type UnpackedLayer, unpackLayerBlob } from './layer-unpack.js';
import { type UpperTarStats, writeUpperTar } from './upper-tar.js';
import type { LayerLimits } from './layer-writer.js';
import type { LayerCompression } from './media-types.js';

/**
 * The process that unpacks one layer of an ordinary user's store, started
 * by user-store.ts inside the user's namespace (as its uid 0, so chown to
 * any id the map covers works and lands at the mapped host id). It runs the
 * same unpack as root's store: the blob's bytes arrive on stdin, the layer
 * is verified and written to DIR, and one JSON line on stdout says how it
 * went ({"ok":true,"layer":…} or {"ok":false,"error":…}). For a commit it
 * writes a container's upper dir as a layer tar instead (UpperJob).
 */
export interface WorkerJob {
  readonly dir: string;
  readonly blobPath?: string;
  readonly digest?: Digest;
  readonly compression: LayerCompression;
  readonly diffId?: Digest;
  readonly size?: number;
  readonly label: string;
  readonly limits: LayerLimits;
}

/** A commit's upper dir written as a layer tar: read inside the namespace, where stat shows the image's ids (the store's map undone). */
export interface UpperJob {
  readonly kind: 'upper';
  readonly upperDir: string;
  readonly tarPath: string;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]) as WorkerJob | UpperJob;
  let answer: unknown;
  try {
    answer = 'kind' in job ? { ok: true, upper: upperTar(job) } : { ok: true, layer: await unpack(job) };
  } catch (e) {
    answer = {
      ok: false,
      error: isFsidmapError(e)
        ? e.toJSON()
        : {
            code: 'ERR_IMAGE_WORKER',
            message: `${'kind' in job ? job.upperDir : job.label}: ${(e as Error)?.message ?? String(e)}`,
            hint: null,
            context: { errno: (e as NodeJS.ErrnoException)?.code ?? null },
          },
    };
  }
  process.stdout.write(JSON.stringify(answer) + '\n', () => process.exit(0));
}

function unpack(job: WorkerJob): Promise<UnpackedLayer> {
  return unpackLayerBlob(
    { open: () => process.stdin, digest: job.digest, compression: job.compression, diffId: job.diffId, size: job.size, label: job.label },
    job.dir,
    { ...(job.blobPath === undefined ? {} : { blobPath: job.blobPath }), limits: job.limits },
  );
}

function upperTar(job: UpperJob): UpperTarStats {
  const fd = openSync(job.tarPath, 'wx', 0o600);
  try {
    return writeUpperTar(job.upperDir, fd);
  } finally {
    closeSync(fd);
  }
}

void main();
