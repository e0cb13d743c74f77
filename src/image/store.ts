import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { stateDir } from '../environment.js';
import { FsidmapError } from '../errors.js';
import { type Digest, digestOfHex, hexOf, isDigest, shortDigest } from './digest.js';
import { mergeRanges, type OwnerRange } from './id-ranges.js';
import type { HolderRecord, ImageRecord } from './image-record.js';
import { formatImageName, parseImageName } from './image-ref.js';
import { readJsonFile, writeJsonAtomic } from './json-file.js';
import type { LayerMeta } from './layer-unpack.js';
import type { ImageConfig, RunConfig } from './oci-json.js';
import { stagingAbandoned, withStoreLock } from './store-lock.js';
import { StoreLayout } from './store-layout.js';
import { readStoreMap, storeFsidmap } from './user-store.js';

/**
 * The image store's reads and record changes: resolve, list, inspect, names,
 * references, remove and gc. Importing and committing (which unpack) are in
 * import.ts and commit.ts and publish through `publish` here.
 */
export interface StoreOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** The store's directory; default images/ under the state dir (root: /var/lib/fsidmap/images). */
  readonly root?: string;
}

export function defaultStoreRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'images');
}

export interface ResolvedLayer {
  readonly diffId: Digest;
  readonly digest: Digest;
  /** The unpacked layer: an overlayfs lower directory, owners as in the tar. */
  readonly path: string;
  readonly size: number;
}

export interface ResolvedImage {
  /** The reference as asked (NAME:TAG, or the digest). */
  readonly ref: string;
  readonly names: readonly string[];
  readonly digest: Digest;
  /** The image config's `config`: Entrypoint, Cmd, Env, WorkingDir, User... */
  readonly config: RunConfig;
  readonly imageConfig: ImageConfig;
  /** Lowest first (the order of the manifest). */
  readonly layers: readonly ResolvedLayer[];
  /**
   * How on-disk ids relate to the image's: absent when layers are stored at
   * the tar's ids (root's store). A user's store unpacks inside the user's
   * namespace, so there on-disk id = the map applied to the image id.
   */
  readonly fsidmap?: { readonly uid: string; readonly gid: string };
}

export interface ImageSummary {
  readonly digest: Digest;
  readonly names: readonly string[];
  readonly layers: number;
  readonly size: number;
  readonly imported: string;
  readonly source: ImageRecord['source'];
}

export interface LayerReport extends LayerMeta {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
  readonly path: string;
}

export interface ImageReport {
  readonly digest: Digest;
  readonly names: readonly string[];
  readonly mediaType: string;
  readonly config: {
    readonly digest: Digest;
    readonly architecture?: string;
    readonly os?: string;
    readonly created?: string;
    readonly run: RunConfig;
  };
  readonly layers: readonly LayerReport[];
  readonly owners: { readonly uids: OwnerRange[]; readonly gids: OwnerRange[] };
  readonly heldBy: readonly string[];
  readonly source: ImageRecord['source'];
  readonly imported: string;
  /** An ordinary user's store: where the owners above are on disk (image id → on-disk id, map-file lines). */
  readonly fsidmap?: { readonly uid: string; readonly gid: string };
}

export interface GcReport {
  readonly layers: number;
  readonly blobs: number;
  readonly staging: number;
  readonly bytes: number;
}

export interface RemoveReport {
  readonly untagged: readonly string[];
  readonly deleted: Digest | undefined;
}

export class StoreRecords {
  readonly layout: StoreLayout;
  constructor(root: string) {
    this.layout = new StoreLayout(root);
  }

  get root(): string {
    return this.layout.root;
  }

  /** Creates the store's directories (0711: others may pass through to a layer, not list the store). */
  ensure(): void {
    const L = this.layout;
    mkdirSync(L.root, { recursive: true, mode: 0o711 });
    for (const d of [L.tmp, L.images, L.holders]) mkdirSync(d, { recursive: true, mode: 0o700 });
    for (const d of [L.layers, L.blobs]) mkdirSync(d, { recursive: true, mode: 0o711 });
  }

  lock<T>(fn: () => T | Promise<T>): Promise<T> {
    this.ensure();
    return withStoreLock(this.layout.lock, fn);
  }

  names(): Record<string, Digest> {
    return readJsonFile<Record<string, Digest>>(this.layout.names) ?? {};
  }

  record(d: Digest): ImageRecord | undefined {
    return readJsonFile<ImageRecord>(this.layout.image(d));
  }

  records(): ImageRecord[] {
    let files: string[];
    try {
      files = readdirSync(this.layout.images);
    } catch {
      return [];
    }
    return files
      .filter((f) => /^[0-9a-f]{64}\.json$/.test(f))
      .map((f) => this.record(digestOfHex(f.slice(0, 64))))
      .filter((r): r is ImageRecord => r !== undefined);
  }

  holders(): HolderRecord[] {
    let files: string[];
    try {
      files = readdirSync(this.layout.holders);
    } catch {
      return [];
    }
    return files
      .filter((f) => f.endsWith('.json'))
      .map((f) => readJsonFile<HolderRecord>(join(this.layout.holders, f)))
      .filter((h): h is HolderRecord => h !== undefined);
  }

  /** The manifest digest a reference names: NAME[:TAG], sha256:HEX, or a unique prefix of at least 6 hex digits. */
  lookup(ref: string): Digest {
    const names = this.names();
    if (isDigest(ref)) {
      if (existsSync(this.layout.image(ref))) return ref;
    } else {
      const hex = ref.startsWith('sha256:') ? ref.slice(7) : ref;
      if (/^[0-9a-f]{6,64}$/.test(hex)) {
        const hits = this.records().filter((r) => hexOf(r.digest).startsWith(hex));
        if (hits.length === 1 && !names[ref] && !names[`${ref}:latest`]) return hits[0].digest;
        if (hits.length > 1)
          throw new FsidmapError('ERR_IMAGE_AMBIGUOUS', `"${ref}" is the start of ${hits.length} images' digests`, {
            context: { ref, digests: hits.map((h) => h.digest) },
            hint: 'give more digits',
          });
      }
      let key: string | undefined;
      try {
        key = formatImageName(parseImageName(ref));
      } catch {
        key = undefined;
      }
      if (key !== undefined && names[key]) return names[key];
    }
    throw new FsidmapError('ERR_IMAGE_NOT_FOUND', `no image "${ref}" in the store ${this.root}`, {
      context: { ref, store: this.root },
      hint: 'see `fsidmap image list`; import it with `fsidmap image import SOURCE --name NAME:TAG`',
    });
  }

  namesOf(d: Digest, names = this.names()): string[] {
    return Object.keys(names)
      .filter((k) => names[k] === d)
      .sort();
  }

  mustRecord(d: Digest): ImageRecord {
    const r = this.record(d);
    if (!r) throw new FsidmapError('ERR_IMAGE_NOT_FOUND', `image ${d} is not in the store ${this.root}`, { context: { digest: d } });
    return r;
  }

  imageConfig(r: ImageRecord): ImageConfig {
    return JSON.parse(readFileSync(this.layout.blob(r.config.digest), 'utf8')) as ImageConfig;
  }

  layerMeta(diffId: Digest): LayerMeta {
    const m = readJsonFile<LayerMeta>(this.layout.layerMeta(diffId));
    if (!m)
      throw new FsidmapError('ERR_IMAGE_STORE_DAMAGED', `layer ${diffId} is missing from the store ${this.root}`, {
        context: { diffId },
        hint: 'import the image again: its missing layers are unpacked anew',
      });
    return m;
  }

  resolve(ref: string): ResolvedImage {
    const digest = this.lookup(ref);
    const r = this.mustRecord(digest);
    const imageConfig = this.imageConfig(r);
    const layers = r.layers.map((l) => {
      this.layerMeta(l.diffId);
      return { diffId: l.diffId, digest: l.digest, path: this.layout.layerRoot(l.diffId), size: l.size };
    });
    const map = readStoreMap(this.layout);
    return {
      ref,
      names: this.namesOf(digest),
      digest,
      config: imageConfig.config ?? {},
      imageConfig,
      layers,
      ...(map ? { fsidmap: storeFsidmap(map) } : {}),
    };
  }

  list(): ImageSummary[] {
    const names = this.names();
    return this.records()
      .map((r) => ({
        digest: r.digest,
        names: this.namesOf(r.digest, names),
        layers: r.layers.length,
        size: r.layers.reduce((s, l) => s + l.size, 0),
        imported: r.imported,
        source: r.source,
      }))
      .sort((a, b) => (a.names[0] ?? '~' + a.digest).localeCompare(b.names[0] ?? '~' + b.digest));
  }

  inspect(ref: string): ImageReport {
    const digest = this.lookup(ref);
    const r = this.mustRecord(digest);
    const cfg = this.imageConfig(r);
    const map = readStoreMap(this.layout);
    const layers = r.layers.map((l) => ({
      ...this.layerMeta(l.diffId),
      digest: l.digest,
      mediaType: l.mediaType,
      size: l.size,
      path: this.layout.layerRoot(l.diffId),
    }));
    return {
      digest,
      names: this.namesOf(digest),
      mediaType: r.mediaType,
      config: {
        digest: r.config.digest,
        ...(cfg.architecture ? { architecture: cfg.architecture } : {}),
        ...(cfg.os ? { os: cfg.os } : {}),
        ...(cfg.created ? { created: cfg.created } : {}),
        run: cfg.config ?? {},
      },
      layers,
      owners: { uids: mergeRanges(layers.map((l) => l.stats.uids)), gids: mergeRanges(layers.map((l) => l.stats.gids)) },
      heldBy: this.holders()
        .filter((h) => h.images.includes(digest) || r.layers.some((l) => h.layers.includes(l.diffId)))
        .map((h) => h.holder),
      source: r.source,
      imported: r.imported,
      ...(map ? { fsidmap: storeFsidmap(map) } : {}),
    };
  }

  /** Under the lock: puts names on an image (moving them from another image if they were there). */
  setNames(d: Digest, add: readonly string[]): void {
    if (add.length === 0) return;
    const names = this.names();
    for (const n of add) names[n] = d;
    writeJsonAtomic(this.layout.names, sortKeys(names));
  }

  remove(ref: string): Promise<RemoveReport> {
    return this.lock(() => {
      const digest = this.lookup(ref);
      const names = this.names();
      const byName = !ref.startsWith('sha256:') && !/^[0-9a-f]{6,64}$/.test(ref);
      const untagged = byName ? [formatImageName(parseImageName(ref))] : this.namesOf(digest, names);
      const rest = this.namesOf(digest, names).filter((n) => !untagged.includes(n));
      const heldBy = this.holders()
        .filter((h) => h.images.includes(digest))
        .map((h) => h.holder);
      if (!byName && heldBy.length > 0)
        throw new FsidmapError('ERR_IMAGE_IN_USE', `image ${shortDigest(digest)} is held by ${heldBy.join(', ')}`, {
          context: { digest, heldBy },
          hint: 'remove those containers first (or remove the image by name: its layers stay while they are used)',
        });
      for (const n of untagged) delete names[n];
      writeJsonAtomic(this.layout.names, sortKeys(names));
      let deleted: Digest | undefined;
      if (rest.length === 0 && heldBy.length === 0) {
        rmSync(this.layout.image(digest), { force: true });
        deleted = digest;
      }
      return { untagged, deleted };
    });
  }

  /** Removes layers and blobs no image and no holder uses, and staging left by dead imports. */
  gc(removeTree: (path: string) => void = (p) => rmSync(p, { recursive: true, force: true })): Promise<GcReport> {
    return this.lock(() => {
      const L = this.layout;
      const usedLayers = new Set<string>();
      const usedBlobs = new Set<string>();
      const records = this.records();
      const byDigest = new Map(records.map((r) => [r.digest, r]));
      const keep = (r: ImageRecord) => {
        usedBlobs.add(hexOf(r.digest));
        usedBlobs.add(hexOf(r.config.digest));
        for (const l of r.layers) {
          usedBlobs.add(hexOf(l.digest));
          usedLayers.add(hexOf(l.diffId));
        }
      };
      records.forEach(keep);
      for (const h of this.holders()) {
        for (const l of h.layers) usedLayers.add(hexOf(l));
        for (const d of h.images) {
          const r = byDigest.get(d);
          if (r) keep(r);
        }
      }
      let layers = 0,
        blobs = 0,
        staging = 0,
        bytes = 0;
      const trash: string[] = [];
      for (const name of readdirSync(L.layers)) {
        if (usedLayers.has(name)) continue;
        const t = join(L.tmp, `gc-${process.pid}-${name}`);
        renameSync(join(L.layers, name), t);
        trash.push(t);
        layers++;
      }
      for (const name of readdirSync(L.blobs)) {
        if (usedBlobs.has(name) || !/^[0-9a-f]{64}$/.test(name)) continue;
        const p = join(L.blobs, name);
        bytes += statSync(p).size;
        rmSync(p, { force: true });
        blobs++;
      }
      for (const name of readdirSync(L.tmp)) {
        if (name.endsWith('.lock') || trash.includes(join(L.tmp, name))) continue;
        const p = join(L.tmp, name);
        if (stagingAbandoned(p)) {
          trash.push(p);
          staging++;
        }
      }
      for (const t of trash) removeTree(t);
      // Lock files whose staging directory is gone and whose owner is dead (the directory was just removed, or its owner died in dispose).
      for (const name of readdirSync(L.tmp))
        if (name.endsWith('.lock') && !existsSync(join(L.tmp, name.slice(0, -5))) && stagingAbandoned(join(L.tmp, name.slice(0, -5))))
          rmSync(join(L.tmp, name), { force: true });
      return { layers, blobs, staging, bytes };
    });
  }

  addReference(target: string, holder: string): Promise<HolderRecord> {
    return this.lock(() => {
      const h = this.holder(holder);
      const which = this.referenceTarget(target);
      const next: HolderRecord =
        which.kind === 'layer'
          ? { ...h, layers: [...new Set([...h.layers, which.digest])].sort() }
          : { ...h, images: [...new Set([...h.images, which.digest])].sort() };
      writeJsonAtomic(this.holderPath(holder), next);
      return next;
    });
  }

  removeReference(target: string | undefined, holder: string): Promise<HolderRecord> {
    return this.lock(() => {
      const h = this.holder(holder);
      let next: HolderRecord;
      if (target === undefined) next = { holder, images: [], layers: [] };
      else {
        const d = isDigest(target) ? target : this.lookup(target);
        next = { ...h, images: h.images.filter((x) => x !== d), layers: h.layers.filter((x) => x !== d) };
      }
      if (next.images.length === 0 && next.layers.length === 0) rmSync(this.holderPath(holder), { force: true });
      else writeJsonAtomic(this.holderPath(holder), next);
      return next;
    });
  }

  private referenceTarget(target: string): { kind: 'layer' | 'image'; digest: Digest } {
    if (isDigest(target) && !existsSync(this.layout.image(target))) {
      if (existsSync(this.layout.layerMeta(target))) return { kind: 'layer', digest: target };
    }
    return { kind: 'image', digest: this.lookup(target) };
  }

  private holderPath(holder: string): string {
    return join(this.layout.holders, `${createHash('sha256').update(holder).digest('hex')}.json`);
  }

  private holder(holder: string): HolderRecord {
    if (holder === '')
      throw new FsidmapError('ERR_IMAGE_BAD_HOLDER', 'a reference needs a holder name (the container that uses the image)');
    return readJsonFile<HolderRecord>(this.holderPath(holder)) ?? { holder, images: [], layers: [] };
  }
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(
    Object.keys(o)
      .sort()
      .map((k) => [k, o[k]]),
  );
}
