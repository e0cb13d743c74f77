/**
 * The image store (issue 12): OCI image import, layers stored once and
 * unshifted, resolve for the runtime, references, gc, commit and export.
 * container/ reaches this room only through this file.
 */
export { ImageStore, openImageStore } from './image-store.js';
export {
  defaultStoreRoot,
  type StoreOptions,
  type ResolvedImage,
  type ResolvedLayer,
  type ImageSummary,
  type ImageReport,
  type LayerReport,
  type GcReport,
  type RemoveReport,
} from './store.js';
export type { ImportOptions, ImportResult } from './import.js';
export type { ExportResult } from './export.js';
export type { CommitResult } from './commit.js';
export type { UpperTarStats } from './upper-tar.js';
export type { HolderRecord, ImageRecord, LayerRef } from './image-record.js';
export type { RunConfig, ImageConfig } from './oci-json.js';
export type { Digest } from './digest.js';
export type { OwnerRange } from './id-ranges.js';
export type { LayerStats } from './layer-writer.js';
export { OPAQUE_XATTR } from './layer-writer.js';
export { parseImageName, formatImageName, type ImageName } from './image-ref.js';
