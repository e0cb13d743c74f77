import type { Digest } from './digest.js';
import type { SourceKind } from './import-plan.js';

/** What images/HEX.json holds: the image's manifest in the store's terms (the manifest and config blobs themselves are in blobs/). */
export interface LayerRef {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
  readonly diffId: Digest;
}

export interface ImageRecord {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly manifestSize: number;
  readonly config: { readonly digest: Digest; readonly mediaType: string; readonly size: number };
  readonly layers: readonly LayerRef[];
  readonly source: { readonly kind: SourceKind | 'commit'; readonly path: string };
  readonly imported: string;
}

export interface HolderRecord {
  readonly holder: string;
  readonly images: readonly Digest[];
  readonly layers: readonly Digest[];
}
