import { join } from 'node:path';
import type { Digest } from './digest.js';
import { hexOf } from './digest.js';

/**
 * Where a store keeps what (all under one root, on one filesystem, so every
 * publication is a rename):
 *
 *   lock                       flock'ed while the store's records change
 *   tmp/ID/ + tmp/ID.lock      staging of one import or commit; gc removes it once unlocked
 *   blobs/sha256/HEX           manifests, configs and layer blobs, as imported (export copies them)
 *   layers/HEX/                one unpacked layer, keyed by its diff_id: root/ (the tree,
 *                              owners as in the tar, whiteouts in overlayfs form) and layer.json
 *   images/HEX.json            one image, keyed by its manifest digest
 *   names.json                 NAME:TAG → manifest digest
 *   holders/HEX.json           what one holder (a container) keeps alive, keyed by sha256 of its name
 *   idmap.json                 an ordinary user's store only: the map its layers were unpacked
 *                              under (image id → on-disk id), fixed at its first import
 *
 * A layer directory appears only by renaming a finished staging directory
 * into place, and an image record only after all its layers and blobs are
 * there, so a reader never sees half of either.
 */
export class StoreLayout {
  constructor(readonly root: string) {}
  get lock(): string {
    return join(this.root, 'lock');
  }
  get tmp(): string {
    return join(this.root, 'tmp');
  }
  get blobs(): string {
    return join(this.root, 'blobs', 'sha256');
  }
  get layers(): string {
    return join(this.root, 'layers');
  }
  get images(): string {
    return join(this.root, 'images');
  }
  get holders(): string {
    return join(this.root, 'holders');
  }
  get idmap(): string {
    return join(this.root, 'idmap.json');
  }
  get names(): string {
    return join(this.root, 'names.json');
  }
  blob(d: Digest): string {
    return join(this.blobs, hexOf(d));
  }
  layerDir(diffId: Digest): string {
    return join(this.layers, hexOf(diffId));
  }
  layerRoot(diffId: Digest): string {
    return join(this.layers, hexOf(diffId), 'root');
  }
  layerMeta(diffId: Digest): string {
    return join(this.layers, hexOf(diffId), 'layer.json');
  }
  image(d: Digest): string {
    return join(this.images, `${hexOf(d)}.json`);
  }
}
