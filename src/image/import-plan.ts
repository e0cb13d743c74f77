import type { Digest } from './digest.js';
import type { LayerBlob, UnpackedLayer } from './layer-unpack.js';

/**
 * What a source (OCI layout, docker-archive, rootfs tar) hands the importer:
 * its layers as streams to verify and unpack, and, once they are, the
 * manifest and config to store — as the source has them, or made for it
 * when it has none. Reading a source never writes anything.
 */
export type SourceKind = 'oci-layout' | 'docker-archive' | 'rootfs-tar';

export interface StoredBlob {
  readonly bytes: Buffer;
  readonly digest: Digest;
  readonly mediaType: string;
}

export interface ImportPlan {
  readonly kind: SourceKind;
  readonly layers: readonly LayerBlob[];
  /** A NAME[:TAG] the source suggests (an OCI ref name annotation, a docker RepoTag, the file's name). */
  readonly suggestedName: string | undefined;
  finish(layers: readonly UnpackedLayer[]): { readonly manifest: StoredBlob; readonly config: StoredBlob };
}
