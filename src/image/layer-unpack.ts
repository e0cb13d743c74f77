import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type Readable, Transform, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { FsidmapError, isFsidmapError } from '../errors.js';
import { TarEntryParser } from '../tar/entry-parser.js';
import type { TarWarning } from '../tar/warnings.js';
import { type Digest, shortDigest } from './digest.js';
import type { LayerCompression } from './media-types.js';
import { type LayerLimits, type LayerStats, LayerWriter } from './layer-writer.js';

/**
 * One layer blob, read once as a stream: its bytes are hashed (the blob's
 * digest) and, when asked, copied into the store's blob file, then
 * decompressed, hashed again (the diff_id) and unpacked by LayerWriter into
 * `dir/root`, with `dir/layer.json` written last. Memory is a few chunks,
 * whatever the layer's size. Both digests are compared when the stream
 * ends; a mismatch (or any error) throws, and the caller removes `dir`,
 * which was never visible in the store.
 */
export interface LayerBlob {
  readonly open: () => Readable;
  /** The blob's digest as the manifest names it; undefined when it is not known in advance (a plain rootfs tar). */
  readonly digest: Digest | undefined;
  readonly compression: LayerCompression;
  /** The diff_id the image config names; undefined for a plain rootfs tar. */
  readonly diffId: Digest | undefined;
  /** Size from the descriptor, checked too when given. */
  readonly size?: number;
  /** What to call it in messages ("layer 2 of 5 (sha256:…)"). */
  readonly label: string;
}

/** unpackLayerBlob's signature: an ordinary user's store runs it in a worker inside the user's namespace (user-store.ts). */
export type LayerUnpacker = (
  blob: LayerBlob,
  dir: string,
  options: { blobPath?: string; signal?: AbortSignal; stagingLockFd?: number },
) => Promise<UnpackedLayer>;

export interface UnpackedLayer {
  readonly digest: Digest;
  readonly diffId: Digest;
  readonly size: number;
  readonly uncompressedSize: number;
  readonly stats: LayerStats;
  readonly warnings: readonly TarWarning[];
}

export interface LayerMeta {
  readonly diffId: Digest;
  readonly uncompressedSize: number;
  readonly stats: LayerStats;
}

export async function unpackLayerBlob(
  blob: LayerBlob,
  dir: string,
  options: {
    blobPath?: string;
    signal?: AbortSignal;
    /** false: only verify and copy the blob (the store has the tree already). */ unpack?: boolean;
    /** An ordinary user's store: ids past its map and device nodes are refused. */
    limits?: LayerLimits;
  } = {},
): Promise<UnpackedLayer> {
  const unpack = options.unpack ?? true;
  const root = join(dir, 'root');
  mkdirSync(unpack ? root : dir, { recursive: true, mode: 0o755 });
  const packed = createHash('sha256');
  const plain = createHash('sha256');
  let size = 0;
  let uncompressedSize = 0;
  const blobFd = options.blobPath === undefined ? -1 : openSync(options.blobPath, 'wx', 0o644);
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      packed.update(chunk);
      size += chunk.length;
      if (blobFd >= 0) writeAll(blobFd, chunk);
      cb(null, chunk);
    },
  });
  const stages: NodeJS.ReadWriteStream[] = [tap];
  if (blob.compression === 'gzip') stages.push(createGunzip({ chunkSize: 1 << 18 }));
  let failure: Error | undefined;
  const source = blob.open();
  const out = (pipeline as unknown as (...s: unknown[]) => Readable)(source, ...stages, (e: Error | null) => {
    if (e) failure = e;
  });
  const onAbort = () => out.destroy(abortError(blob.label));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const writer = new LayerWriter(root, blob.label, [], options.limits);
  const parser = new TarEntryParser((w) => writer.warnings.push(w));
  let stats: LayerStats;
  try {
    options.signal?.throwIfAborted();
    for await (const chunk of out) {
      plain.update(chunk as Buffer);
      uncompressedSize += (chunk as Buffer).length;
      if (!unpack) continue;
      for (const ev of parser.push(chunk as Buffer)) {
        if (ev.kind === 'entry') writer.begin(ev.entry);
        else if (ev.kind === 'data') writer.data(ev.bytes);
        else writer.end();
      }
    }
    if (failure) throw failure;
    if (unpack) {
      parser.end();
      stats = writer.finish();
    } else stats = EMPTY_STATS;
  } catch (e) {
    throw streamError(failure ?? e, blob.label);
  } finally {
    writer.abort();
    options.signal?.removeEventListener('abort', onAbort);
    if (!out.destroyed) out.destroy();
    if (blobFd >= 0) closeSync(blobFd);
  }
  const digest: Digest = `sha256:${packed.digest('hex')}`;
  const diffId: Digest = `sha256:${plain.digest('hex')}`;
  if (blob.size !== undefined && blob.size !== size)
    throw mismatch(blob.label, 'size', String(blob.size), String(size), 'the blob is truncated or is not the one the manifest names');
  if (blob.digest !== undefined && blob.digest !== digest)
    throw mismatch(blob.label, 'digest', blob.digest, digest, 'the blob is corrupt or is not the one the manifest names');
  if (blob.diffId !== undefined && blob.diffId !== diffId)
    throw mismatch(blob.label, 'diff_id', blob.diffId, diffId, "the layer's content is not the one the image config names");
  const meta: LayerMeta = { diffId, uncompressedSize, stats };
  if (unpack) writeFileSync(join(dir, 'layer.json'), JSON.stringify(meta, null, 1) + '\n');
  return { digest, diffId, size, uncompressedSize, stats, warnings: writer.warnings };
}

const EMPTY_STATS: LayerStats = {
  entries: 0,
  files: 0,
  dirs: 0,
  symlinks: 0,
  hardlinks: 0,
  devices: 0,
  fifos: 0,
  skipped: 0,
  bytes: 0,
  whiteouts: 0,
  opaqueDirs: 0,
  droppedXattrs: 0,
  uids: [],
  gids: [],
};

function writeAll(fd: number, b: Buffer): void {
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off);
}

function mismatch(label: string, what: string, want: string, got: string, why: string): FsidmapError {
  return new FsidmapError(
    'ERR_IMAGE_DIGEST_MISMATCH',
    `${label}: ${what} is ${got.startsWith('sha256:') ? shortDigest(got as Digest) : got}, the image says ${want}`,
    {
      context: { layer: label, field: what, expected: want, actual: got },
      hint: `${why}; nothing was stored`,
    },
  );
}

function abortError(label: string): FsidmapError {
  return new FsidmapError('ERR_IMAGE_ABORTED', `${label}: import stopped by its caller`, { hint: 'nothing was stored' });
}

/** zlib and stream errors named for the layer; FsidmapErrors (tar data, unsafe paths) pass through with the layer added. */
function streamError(e: unknown, label: string): unknown {
  if (isFsidmapError(e)) {
    if (e.code.startsWith('ERR_TAR_'))
      return new FsidmapError('ERR_IMAGE_LAYER_CORRUPT', `${label}: ${e.message}`, {
        context: { layer: label, ...e.context },
        hint: `${e.hint ?? 'the layer is not a valid tar archive'}; nothing was stored`,
        cause: e,
      });
    return e;
  }
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code === 'string' && err.code.startsWith('Z_'))
    return new FsidmapError('ERR_IMAGE_LAYER_CORRUPT', `${label}: gzip data is corrupt or truncated (${err.message})`, {
      context: { layer: label, zlib: err.code },
      hint: 'the blob is damaged or incomplete, or its media type says gzip when it is not; nothing was stored',
      cause: e,
    });
  return e;
}
