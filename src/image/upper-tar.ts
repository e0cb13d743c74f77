import { closeSync, lstatSync, openSync, readSync, readdirSync, readlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FsidmapError } from '../errors.js';
import { getXattr, listXattrs } from '../kernel/file/xattr.js';
import { END_OF_ARCHIVE, type EntryFields, encodeEntryHeaders, paddingFor } from '../tar/entry-encode.js';
import { OPAQUE_XATTR, isOverlayXattr } from './layer-writer.js';

/**
 * An overlayfs upper directory as an OCI layer tar (what `commit` stores):
 * a whiteout (character device 0/0, or an empty file with
 * user.overlay.whiteout) becomes `.wh.NAME`, an opaque directory
 * (user.overlay.opaque=y, or trusted.* from a host-root overlay) gets a
 * `.wh..wh..opq` entry, overlay's own xattrs are left out, every other
 * xattr (user.*, security.capability, POSIX ACLs) kept, owners by number as
 * on disk (unshifted: the runtime's overlay writes them so). Entries in
 * name order and no atimes: the same upper gives the same bytes, so the
 * same digests. Written as it walks: memory is one directory listing and a
 * 1 MiB buffer. A redirected or metacopy-only directory entry (overlay
 * features the runtime does not enable) is refused: its data is elsewhere.
 */
export interface UpperTarStats {
  entries: number;
  whiteouts: number;
  opaqueDirs: number;
  bytes: number;
}

const CHUNK = 1 << 20;

export function writeUpperTar(upper: string, outFd: number): UpperTarStats {
  const stats: UpperTarStats = { entries: 0, whiteouts: 0, opaqueDirs: 0, bytes: 0 };
  const links = new Map<string, string>();
  const buf = Buffer.allocUnsafe(CHUNK);
  let pos = 0;
  const out = (b: Buffer) => {
    let off = 0;
    while (off < b.length) off += writeSync(outFd, b, off, b.length - off, pos + off);
    pos += b.length;
  };
  const walk = (rel: string): void => {
    const names = readdirSync(rel === '' ? upper : join(upper, rel)).sort();
    for (const name of names) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const abs = join(upper, path);
      const st = lstatSync(abs, { bigint: false });
      const xattrs = st.isSymbolicLink() ? { kept: [], overlay: new Map<string, Buffer>() } : readXattrs(abs, path);
      const isWhiteout =
        (st.isCharacterDevice() && st.rdev === 0) || (st.isFile() && st.size === 0 && xattrs.overlay.has('user.overlay.whiteout'));
      if (isWhiteout) {
        out(encodeEntryHeaders(base(rel === '' ? `.wh.${name}` : `${rel}/.wh.${name}`, 'file', st, 0)));
        stats.whiteouts++;
        stats.entries++;
        continue;
      }
      const fields: EntryFields = { ...base(path, 'file', st, 0), xattrs: xattrs.kept };
      stats.entries++;
      if (st.isDirectory()) {
        out(encodeEntryHeaders({ ...fields, type: 'dir' }));
        const o = xattrs.overlay.get(OPAQUE_XATTR) ?? xattrs.overlay.get('trusted.overlay.opaque');
        if (o?.toString() === 'y') {
          out(encodeEntryHeaders(base(`${path}/.wh..wh..opq`, 'file', st, 0)));
          stats.opaqueDirs++;
        }
        walk(path);
      } else if (st.isSymbolicLink()) out(encodeEntryHeaders({ ...fields, type: 'symlink', linkpath: readlinkSync(abs) }));
      else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first !== undefined) {
          out(encodeEntryHeaders({ ...fields, type: 'hardlink', linkpath: first }));
          continue;
        }
        if (st.nlink > 1) links.set(key, path);
        out(encodeEntryHeaders({ ...fields, size: st.size }));
        const fd = openSync(abs, 'r');
        try {
          let done = 0;
          while (done < st.size) {
            const n = readSync(fd, buf, 0, Math.min(CHUNK, st.size - done), done);
            if (n === 0) break;
            out(buf.subarray(0, n));
            done += n;
          }
          if (done !== st.size || readSync(fd, buf, 0, 1, done) !== 0) throw changed(path);
        } finally {
          closeSync(fd);
        }
        out(paddingFor(st.size));
        stats.bytes += st.size;
      } else if (st.isFIFO()) out(encodeEntryHeaders({ ...fields, type: 'fifo' }));
      else if (st.isCharacterDevice() || st.isBlockDevice())
        out(
          encodeEntryHeaders({
            ...fields,
            type: st.isCharacterDevice() ? 'char' : 'block',
            devmajor: Number((BigInt(st.rdev) >> 8n) & 0xfffn) | Number((BigInt(st.rdev) >> 32n) & ~0xfffn),
            devminor: Number(BigInt(st.rdev) & 0xffn) | Number((BigInt(st.rdev) >> 12n) & ~0xffn),
          }),
        );
      else stats.entries--; // sockets: not in OCI layers
    }
  };
  walk('');
  out(END_OF_ARCHIVE);
  return stats;
}

function base(path: string, type: EntryFields['type'], st: ReturnType<typeof lstatSync> & object, size: number): EntryFields {
  const isWh = path.endsWith('.wh..wh..opq') || path.split('/').pop()!.startsWith('.wh.');
  return {
    path,
    type,
    mode: isWh ? 0o644 : Number(st.mode) & 0o7777,
    uid: isWh ? 0 : Number(st.uid),
    gid: isWh ? 0 : Number(st.gid),
    size,
    mtime: Math.floor(Number(st.mtimeMs) / 1000),
  };
}

function readXattrs(abs: string, path: string): { kept: Array<[string, Buffer]>; overlay: Map<string, Buffer> } {
  const kept: Array<[string, Buffer]> = [];
  const overlay = new Map<string, Buffer>();
  for (const name of listXattrs(abs).sort()) {
    const v = getXattr(abs, name);
    if (v === null) continue;
    if (isOverlayXattr(name)) {
      if (/\.overlay\.(redirect|metacopy)$/.test(name))
        throw new FsidmapError(
          'ERR_IMAGE_COMMIT_UNSUPPORTED',
          `${path}: the upper layer uses overlayfs ${name.split('.').pop()} (${name}), whose data is not in the upper dir`,
          {
            context: { path, xattr: name },
            hint: 'mount the container overlay without redirect_dir and metacopy (the defaults with userxattr)',
          },
        );
      overlay.set(name, v);
    } else kept.push([name, v]);
  }
  return { kept, overlay };
}

function changed(path: string): FsidmapError {
  return new FsidmapError('ERR_IMAGE_COMMIT_CHANGED', `${path} changed size while it was read`, {
    context: { path },
    hint: 'stop the container before committing it',
  });
}
