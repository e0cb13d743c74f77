import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FsidmapError } from '../errors.js';
import { type Digest, hexOf } from './digest.js';
import { parseImageName } from './image-ref.js';
import { writeBytesAtomic } from './json-file.js';
import { MEDIA } from './media-types.js';
import { type Descriptor, REF_NAME, parseIndex } from './oci-json.js';
import type { StoreRecords } from './store.js';

/**
 * An image as an OCI image layout: the blobs as the store holds them (the
 * bytes imported or committed, so digests are unchanged), index.json naming
 * the manifest with the tag as org.opencontainers.image.ref.name (what umoci
 * and skopeo read as DIR:TAG). Into a new or empty directory, or added to an
 * existing layout (a manifest of the same tag is replaced). Blobs are copied
 * under temporary names and renamed; index.json is written last, so a
 * reader of the layout never sees a manifest whose blobs are not there yet.
 */
export interface ExportResult {
  readonly dir: string;
  readonly digest: Digest;
  readonly tag: string | undefined;
  readonly blobs: number;
}

export function exportImage(store: StoreRecords, ref: string, dir: string): ExportResult {
  const digest = store.lookup(ref);
  const r = store.mustRecord(digest);
  const tag = tagFor(ref, store.namesOf(digest));
  const out = resolve(dir);
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw notLayout(out, 'it is not a directory');
    if (!existsSync(join(out, 'oci-layout')) && readdirSync(out).length > 0)
      throw notLayout(out, 'it is neither empty nor an OCI image layout');
  }
  const blobs = join(out, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  let copied = 0;
  for (const d of [r.config.digest, ...r.layers.map((l) => l.digest), digest]) {
    const to = join(blobs, hexOf(d));
    if (existsSync(to)) continue;
    const temp = `${to}.tmp-${process.pid}`;
    copyFileSync(store.layout.blob(d), temp);
    renameSync(temp, to);
    copied++;
  }
  if (!existsSync(join(out, 'oci-layout'))) writeBytesAtomic(join(out, 'oci-layout'), Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
  const indexPath = join(out, 'index.json');
  const old = existsSync(indexPath) ? parseIndex(readFileSync(indexPath), indexPath).manifests : [];
  const desc: Descriptor = {
    mediaType: r.mediaType,
    digest,
    size: r.manifestSize,
    ...(tag ? { annotations: { [REF_NAME]: tag } } : {}),
  };
  const kept = old.filter((m) => (tag ? m.annotations?.[REF_NAME] !== tag : m.digest !== digest));
  writeBytesAtomic(indexPath, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [...kept, desc] })));
  return { dir: out, digest, tag, blobs: copied };
}

function tagFor(ref: string, names: readonly string[]): string | undefined {
  try {
    if (!/^(sha256:)?[0-9a-f]{6,64}$/.test(ref)) return parseImageName(ref).tag;
  } catch {
    /* a digest prefix that is also a name: fall through */
  }
  return names.length > 0 ? parseImageName(names[0]).tag : undefined;
}

function notLayout(dir: string, why: string): FsidmapError {
  return new FsidmapError('ERR_IMAGE_EXPORT_TARGET', `cannot export into ${dir}: ${why}`, {
    context: { dir },
    hint: 'give a new directory, an empty one, or an existing OCI layout to add the image to',
  });
}
