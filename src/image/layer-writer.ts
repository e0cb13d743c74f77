import { dirname, posix } from 'node:path';
import { FsidmapError } from '../errors.js';
import { mknod } from '../kernel/file/mknod.js';
import { setXattr } from '../kernel/file/xattr.js';
import type { TarEntry } from '../tar/entry-parser.js';
import { normalizeEntryPath } from '../tar/image-entry.js';
import type { TarWarning } from '../tar/warnings.js';
import { EntryWriter, type UnpackCounts, UnpackTarget } from '../tar-io/index.js';
import { IdTally, type OwnerRange } from './id-ranges.js';

/**
 * Writes one OCI layer's entries into a directory in the form overlayfs
 * reads as a lower layer: files as GNU tar extracts them (owners exactly as
 * the tar says, by number), `.wh.NAME` as a character device 0/0 named NAME,
 * and `.wh..wh..opq` as the xattr user.overlay.opaque=y on its directory —
 * the user.* form, because the runtime mounts the overlay with `userxattr`
 * from inside the container's user namespace (docs/overlay-idmapped.md).
 *
 * A layer is untrusted input: an entry with an absolute path or a ".."
 * component, a hard link whose target does, or a path that would be written
 * through a symlink is an error (ERR_IMAGE_LAYER_UNSAFE), not a skip, so a
 * bad layer is never stored; and xattrs in the overlay namespaces
 * (user.overlay.*, trusted.overlay.*) are dropped, so a layer cannot make
 * the overlay redirect lookups or fake whiteouts of its own.
 */
export const OPAQUE_XATTR = 'user.overlay.opaque';
const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';

export interface LayerStats extends UnpackCounts {
  whiteouts: number;
  opaqueDirs: number;
  droppedXattrs: number;
  uids: OwnerRange[];
  gids: OwnerRange[];
}

/**
 * What an ordinary user's store can hold: the layer is unpacked inside the
 * user's namespace, where ids past the map cannot be written and the kernel
 * refuses mknod of devices (only a 0/0 whiteout is allowed). Such entries
 * are refused by name here, before anything is written for them.
 */
export interface LayerLimits {
  /** Image ids 0..uids-1 (gids-1) have an on-disk id. */
  readonly uids: number;
  readonly gids: number;
  /** Says what the map is, for messages ("uid 0 → 1000, 1..65536 → 100000..165535"). */
  readonly describe: string;
}

export class LayerWriter {
  private readonly target: UnpackTarget;
  private readonly writer: EntryWriter;
  private readonly uids = new IdTally();
  private readonly gids = new IdTally();
  private whiteouts = 0;
  private opaqueDirs = 0;
  private droppedXattrs = 0;

  constructor(
    root: string,
    private readonly layer: string,
    readonly warnings: TarWarning[] = [],
    private readonly limits?: LayerLimits,
  ) {
    this.target = new UnpackTarget(root);
    this.writer = new EntryWriter(this.target, true, (w) => this.onWarning(w));
  }

  begin(e: TarEntry): void {
    this.checkPath(e, e.path, 'path');
    if (e.type === 'hardlink') this.checkPath(e, e.linkpath, 'hard link target');
    const rel = normalizeEntryPath(e.path);
    const base = posix.basename(rel);
    if (base.startsWith(WH)) return this.whiteout(e, rel, base);
    if (this.limits) this.checkLimits(e, this.limits);
    this.uids.add(e.uid);
    this.gids.add(e.gid);
    this.writer.begin(this.withoutOverlayXattrs(e));
  }

  data(bytes: Buffer): void {
    this.writer.data(bytes);
  }

  end(): void {
    this.writer.end();
  }

  finish(): LayerStats {
    this.writer.finish();
    return {
      ...this.writer.counts,
      whiteouts: this.whiteouts,
      opaqueDirs: this.opaqueDirs,
      droppedXattrs: this.droppedXattrs,
      uids: this.uids.ranges(),
      gids: this.gids.ranges(),
    };
  }

  abort(): void {
    this.writer.abort();
  }

  private whiteout(e: TarEntry, rel: string, base: string): void {
    if (!this.target.ensureParents(rel)) this.unsafe(e, 'a directory on its path is a symlink or not a directory');
    const parent = dirname(rel);
    if (base === OPAQUE) {
      setXattr(this.target.pathOf(parent)!, OPAQUE_XATTR, Buffer.from('y'));
      this.target.rememberDir(parent);
      this.opaqueDirs++;
      return;
    }
    const name = base.slice(WH.length);
    if (name === '' || name === '.' || name === '..') this.unsafe(e, `"${base}" whites out no name`);
    const hidden = parent === '.' ? name : `${parent}/${name}`;
    this.target.clear(hidden, 'other');
    mknod(this.target.pathOf(hidden)!, 'char', 0o600, 0, 0);
    this.whiteouts++;
  }

  private checkLimits(e: TarEntry, l: LayerLimits): void {
    const whiteout = e.type === 'char' && e.devmajor === 0 && e.devminor === 0;
    if ((e.type === 'char' || e.type === 'block') && !whiteout)
      throw new FsidmapError(
        'ERR_IMAGE_LAYER_DEVICE',
        `layer ${this.layer}: ${e.path} is a ${e.type === 'char' ? 'character' : 'block'} device (${e.devmajor}:${e.devminor}); an ordinary user's store cannot hold device nodes`,
        {
          context: { layer: this.layer, path: e.path, type: e.type, major: e.devmajor, minor: e.devminor },
          hint: 'the kernel refuses mknod inside a user namespace; import the image as root (its store keeps devices), or rebuild it without /dev nodes (runtimes mount /dev themselves); nothing was stored',
        },
      );
    const over = e.uid >= l.uids ? (['uid', e.uid, l.uids] as const) : e.gid >= l.gids ? (['gid', e.gid, l.gids] as const) : undefined;
    if (over) {
      const [kind, id, size] = over;
      throw new FsidmapError(
        'ERR_IMAGE_ID_UNMAPPED',
        `layer ${this.layer}: ${e.path} is owned by ${kind} ${id}, but this store maps only ${kind}s 0..${size - 1} (${l.describe})`,
        {
          context: { layer: this.layer, path: e.path, kind, id, mapped: size },
          hint: `the image needs ${kind}s 0..${id} at least, so a first subordinate range of ${id} ids or more (e.g. usermod --add-sub${kind}s 100000-${100000 + id - 1}, a range no one else has, then a new store: a store keeps the map of its first import), or import it as root; nothing was stored`,
        },
      );
    }
  }

  private withoutOverlayXattrs(e: TarEntry): TarEntry {
    let drop = 0;
    for (const k of e.xattrs.keys()) if (isOverlayXattr(k)) drop++;
    if (drop === 0) return e;
    this.droppedXattrs += drop;
    return { ...e, xattrs: new Map([...e.xattrs].filter(([k]) => !isOverlayXattr(k))) };
  }

  private checkPath(e: TarEntry, p: string, what: string): void {
    if (p.startsWith('/')) this.unsafe(e, `its ${what} "${p}" is absolute`);
    if (p.split('/').includes('..')) this.unsafe(e, `its ${what} "${p}" has a ".." component`);
  }

  private onWarning(w: TarWarning): void {
    if (w.code === 'TAR_UNSAFE_PATH') throw this.unsafeError(w.path ?? '?', w.message, w.offset);
    this.warnings.push(w);
  }

  private unsafe(e: TarEntry, why: string): never {
    throw this.unsafeError(e.path, `${e.path}: ${why}`, e.offset);
  }

  private unsafeError(path: string, message: string, offset: number | undefined): FsidmapError {
    return new FsidmapError('ERR_IMAGE_LAYER_UNSAFE', `layer ${this.layer}: ${message}`, {
      context: { layer: this.layer, path, offset },
      hint: 'the layer tries to write outside its own tree; the image was not stored (rebuild it, or do not trust its source)',
    });
  }
}

export function isOverlayXattr(name: string): boolean {
  return name.startsWith('user.overlay.') || name.startsWith('trusted.overlay.');
}
