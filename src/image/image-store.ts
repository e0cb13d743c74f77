import { type CommitResult, commitLayer } from './commit.js';
import { type ExportResult, exportImage } from './export.js';
import { type ImportOptions, type ImportResult, importImage } from './import.js';
import { planSource } from './source.js';
import {
  checkStoreOwner,
  isUserStore,
  limitsOf,
  namespaceRemover,
  namespaceUnpacker,
  namespaceUpperTar,
  openStoreNamespace,
  readStoreMap,
  recordStoreMap,
  refuseRootInUserStore,
  type StoreMap,
  storeMapFor,
} from './user-store.js';
import type { SubidNamespace } from '../subid-ns/index.js';
import {
  type GcReport,
  type ImageReport,
  type ImageSummary,
  type RemoveReport,
  type ResolvedImage,
  StoreRecords,
  type StoreOptions,
  defaultStoreRoot,
} from './store.js';
import type { HolderRecord } from './image-record.js';

/**
 * The image store: OCI images kept as layers unpacked once, keyed by
 * diff_id, owners exactly as the tar says (unshifted), whiteouts in the
 * form overlayfs reads; shared by every image that has them and by every
 * container in any id range. See store-layout.ts for what is where, and
 * import.ts for why a crash never leaves half a layer.
 */
export class ImageStore {
  private readonly records: StoreRecords;

  constructor(readonly root: string) {
    this.records = new StoreRecords(root);
  }

  /** Imports an OCI layout (DIR, DIR:TAG, DIR@sha256:…), a docker-archive tar, or a rootfs tar/tar.gz. */
  async import(source: string, options: ImportOptions = {}): Promise<ImportResult> {
    const plan = planSource(source);
    if (!isUserStore()) {
      refuseRootInUserStore(this.records.layout);
      return importImage(this.records, plan, source, options);
    }
    return this.asUser((map, ns) =>
      importImage(this.records, plan, source, options, { unpack: namespaceUnpacker(ns, limitsOf(map)), removeTree: namespaceRemover(ns) }),
    );
  }

  /** An ordinary user: layers are written inside their namespace, under the store's map (user-store.ts). */
  private async asUser<T>(fn: (map: StoreMap, ns: SubidNamespace) => Promise<T>): Promise<T> {
    const L = this.records.layout;
    checkStoreOwner(L);
    const map = storeMapFor(L);
    const ns = await openStoreNamespace(map);
    try {
      this.records.ensure();
      recordStoreMap(L, map);
      return await fn(map, ns);
    } finally {
      await ns.release();
    }
  }

  resolve(ref: string): ResolvedImage {
    return this.records.resolve(ref);
  }

  list(): ImageSummary[] {
    return this.records.list();
  }

  inspect(ref: string): ImageReport {
    return this.records.inspect(ref);
  }

  /** Removes a name (the image goes when its last name does and nothing holds it), or by digest the image and all its names. */
  remove(ref: string): Promise<RemoveReport> {
    if (isUserStore()) checkStoreOwner(this.records.layout);
    return this.records.remove(ref);
  }

  async gc(): Promise<GcReport> {
    const map = isUserStore() ? readStoreMap(this.records.layout) : undefined;
    if (!map) return this.records.gc();
    checkStoreOwner(this.records.layout);
    // Layers hold files of the user's subordinate ids: what the user cannot unlink is removed inside their namespace.
    const ns = await openStoreNamespace(map);
    try {
      return await this.records.gc(namespaceRemover(ns));
    } finally {
      await ns.release();
    }
  }

  /** Keeps an image (by name or digest) or one layer (by diff_id) from gc while `holder` (a container) uses it. */
  addReference(target: string, holder: string): Promise<HolderRecord> {
    return this.records.addReference(target, holder);
  }

  /** Drops one reference of holder's, or all of them when target is undefined. */
  removeReference(target: string | undefined, holder: string): Promise<HolderRecord> {
    return this.records.removeReference(target, holder);
  }

  /** Writes the image as an OCI image layout in dir (new, empty, or an existing layout to add it to). */
  async export(ref: string, dir: string): Promise<ExportResult> {
    return this.records.lock(() => exportImage(this.records, ref, dir));
  }

  /**
   * A new image: baseRef's layers plus upperDir (an overlayfs upper dir, as
   * the runtime's overlay with userxattr leaves it) as a new top layer.
   * Owners are stored as they are on disk (unshifted).
   */
  commitLayer(
    upperDir: string,
    baseRef: string,
    newRef?: string,
    options: { signal?: AbortSignal; comment?: string } = {},
  ): Promise<CommitResult> {
    if (!isUserStore()) {
      refuseRootInUserStore(this.records.layout);
      return commitLayer(this.records, upperDir, baseRef, newRef, options);
    }
    return this.asUser((map, ns) =>
      commitLayer(this.records, upperDir, baseRef, newRef, options, {
        unpack: namespaceUnpacker(ns, limitsOf(map)),
        removeTree: namespaceRemover(ns),
        upperTar: namespaceUpperTar(ns),
      }),
    );
  }

  references(): HolderRecord[] {
    return this.records.holders();
  }

  /** @internal for commit and export */
  get store(): StoreRecords {
    return this.records;
  }
}

export function openImageStore(options: StoreOptions = {}): ImageStore {
  return new ImageStore(options.root ?? defaultStoreRoot(options.env ?? process.env));
}
