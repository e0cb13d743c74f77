import {
  chmodSync,
  closeSync,
  lstatSync,
  constants as fsc,
  ftruncateSync,
  lchownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  openSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { FsidmapError, isFsidmapError } from '../errors.js';
import { mknod } from '../kernel/file/mknod.js';
import { setXattr } from '../kernel/file/xattr.js';
import { aclTextToXattr } from '../tar/acl-binary.js';
import type { TarEntry } from '../tar/entry-parser.js';
import { normalizeEntryPath } from '../tar/image-entry.js';
import type { SparseSegment } from '../tar/sparse.js';
import type { TarWarning } from '../tar/warnings.js';
import { POSIX_ACL_ACCESS, POSIX_ACL_DEFAULT, SECURITY_CAPABILITY } from '../ownership/xattr-codec.js';
import { hostNameResolver } from './host-names.js';
import type { UnpackTarget } from './unpack-target.js';

/**
 * Writes the entries of an archive into the target directory, one at a
 * time, in GNU tar's order of operations (see unpack.ts). It owns the one
 * open file descriptor and the list of directories whose mode and times are
 * set at the end.
 */
export interface UnpackCounts {
  entries: number;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  devices: number;
  fifos: number;
  skipped: number;
  bytes: number;
}

export class EntryWriter {
  readonly counts: UnpackCounts = { entries: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, devices: 0, fifos: 0, skipped: 0, bytes: 0 };
  private fd: number | null = null;
  private current: {
    entry: TarEntry;
    path: string;
    segments: readonly SparseSegment[] | undefined;
    seg: number;
    within: number;
    pos: number;
  } | null = null;
  private readonly delayed = new Map<string, TarEntry>();
  private readonly resolveName = hostNameResolver();

  constructor(
    private readonly target: UnpackTarget,
    private readonly sameOwner: boolean,
    private readonly warn: (w: TarWarning) => void,
  ) {}

  begin(entry: TarEntry): void {
    this.counts.entries++;
    const rel = normalizeEntryPath(entry.path);
    const abs = this.target.pathOf(rel);
    if (abs === undefined || (rel !== '.' && !this.target.ensureParents(rel)))
      return this.skip(entry, rel, 'its path leaves the target directory (".." or a symlink on the way)');
    if (rel === '.' && entry.type !== 'dir') return this.skip(entry, rel, 'only a directory can stand for the target directory itself');
    try {
      this.create(entry, rel, abs);
    } catch (e) {
      throw this.ioError(e, rel);
    }
  }

  private create(entry: TarEntry, rel: string, abs: string): void {
    switch (entry.type) {
      case 'dir': {
        if (rel === '.' || this.target.clear(rel, 'dir') === 'exists') {
          // Already there: owner now, mode and times at the end.
        } else mkdirSync(abs, { mode: 0o700 });
        this.target.rememberDir(rel);
        this.counts.dirs++;
        this.setOwner(abs, entry);
        this.setAcls(abs, entry);
        this.setXattrs(abs, entry);
        this.delayed.set(abs, entry);
        return;
      }
      case 'file': {
        this.target.clear(rel, 'other');
        this.fd = openSync(abs, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
        this.current = { entry, path: abs, segments: entry.sparse?.segments.filter((s) => s.length > 0), seg: 0, within: 0, pos: 0 };
        this.counts.files++;
        return;
      }
      case 'symlink':
        this.target.clear(rel, 'other');
        symlinkSync(entry.linkpath, abs);
        this.counts.symlinks++;
        this.setOwner(abs, entry);
        this.setXattrs(abs, entry);
        lutimesSync(abs, entry.atime ?? entry.mtime, entry.mtime);
        return;
      case 'hardlink': {
        const linkRel = normalizeEntryPath(entry.linkpath);
        const from = this.target.pathOf(linkRel);
        // link(2) follows symlinks in the target's directories: they must be real directories inside DIR too.
        if (from === undefined || linkRel === '.' || !this.target.parentsAreDirs(linkRel)) {
          return this.skip(entry, rel, `its link target "${entry.linkpath}" leaves the target directory`);
        }
        this.target.clear(rel, 'other');
        linkSync(from, abs);
        this.counts.hardlinks++;
        return;
      }
      case 'fifo':
      case 'char':
      case 'block': {
        this.target.clear(rel, 'other');
        try {
          mknod(abs, entry.type, 0o600, entry.devmajor, entry.devminor);
        } catch (e) {
          if (isFsidmapError(e) && e.code === 'ERR_SYSCALL_EPERM' && entry.type !== 'fifo') {
            this.warn({
              code: 'TAR_MKNOD_DENIED',
              message: `${rel}: cannot create a device node here (no CAP_MKNOD, e.g. in a user namespace); skipped`,
              offset: entry.offset,
              path: rel,
            });
            this.counts.skipped++;
            return;
          }
          throw e;
        }
        if (entry.type === 'fifo') this.counts.fifos++;
        else this.counts.devices++;
        this.finishMeta(abs, entry);
        return;
      }
      default:
        this.warn({
          code: 'TAR_UNKNOWN_TYPE',
          message: `${rel}: entry type "${String.fromCharCode(entry.typeflag)}" cannot be unpacked; skipped`,
          offset: entry.offset,
          path: rel,
        });
        this.counts.skipped++;
    }
  }

  data(bytes: Buffer): void {
    const c = this.current;
    if (c === null || this.fd === null) return; // data of an entry that is not a file (or was skipped)
    try {
      if (c.segments === undefined) {
        writeAll(this.fd, bytes, c.pos);
        c.pos += bytes.length;
      } else {
        // Sparse: the stored bytes are the segments back to back; each goes to its offset.
        let at = 0;
        while (at < bytes.length && c.seg < c.segments.length) {
          const s = c.segments[c.seg];
          const k = Math.min(s.length - c.within, bytes.length - at);
          writeAll(this.fd, bytes.subarray(at, at + k), s.offset + c.within);
          at += k;
          c.within += k;
          if (c.within === s.length) {
            c.seg++;
            c.within = 0;
          }
        }
      }
      this.counts.bytes += bytes.length;
    } catch (e) {
      throw this.ioError(e, c.path);
    }
  }

  end(): void {
    const c = this.current;
    if (c === null || this.fd === null) return;
    try {
      if (c.entry.sparse) ftruncateSync(this.fd, c.entry.sparse.realSize);
      closeSync(this.fd);
      this.fd = null;
      this.current = null;
      this.finishMeta(c.path, c.entry);
    } catch (e) {
      throw this.ioError(e, c.path);
    }
  }

  /** Directories last, deepest first (reverse of creation), so writing into them does not undo their times or modes. */
  finish(): void {
    for (const [abs, entry] of [...this.delayed].reverse()) {
      try {
        // A later entry may have replaced the directory (with a symlink, say): chmod would follow it.
        if (!lstatSync(abs).isDirectory()) continue;
        chmodSync(abs, entry.mode);
        lutimesSync(abs, entry.atime ?? entry.mtime, entry.mtime);
      } catch (e) {
        throw this.ioError(e, abs);
      }
    }
    this.delayed.clear();
  }

  /** Releases the open descriptor when unpacking stops early. */
  abort(): void {
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        /* already closed */
      }
      this.fd = null;
    }
  }

  private finishMeta(abs: string, entry: TarEntry): void {
    this.setOwner(abs, entry);
    chmodSync(abs, entry.mode);
    this.setAcls(abs, entry);
    this.setXattrs(abs, entry);
    lutimesSync(abs, entry.atime ?? entry.mtime, entry.mtime);
  }

  private setOwner(abs: string, entry: TarEntry): void {
    if (this.sameOwner) lchownSync(abs, entry.uid, entry.gid);
  }

  /** POSIX ACLs: the binary xattr when the archive has it, else the text record converted. */
  private setAcls(abs: string, entry: TarEntry): void {
    for (const [name, text] of [
      [POSIX_ACL_ACCESS, entry.aclAccess],
      [POSIX_ACL_DEFAULT, entry.aclDefault],
    ] as const) {
      if (name === POSIX_ACL_DEFAULT && entry.type !== 'dir') continue;
      let value = entry.xattrs.get(name);
      if (value === undefined && text !== undefined) {
        const r = aclTextToXattr(text, this.resolveName);
        if (!r.ok) {
          this.warn({
            code: 'TAR_XATTR_NOT_SET',
            message: `${entry.path}: ACL not set: ${r.reason === 'unresolved' ? `${r.detail} is not known on this host` : `malformed entry ${r.detail}`}`,
            offset: entry.offset,
            path: entry.path,
          });
          continue;
        }
        value = r.value;
      }
      if (value !== undefined) this.trySetXattr(abs, name, value, entry);
    }
  }

  /** Other xattrs; the capability after everything that could clear it. */
  private setXattrs(abs: string, entry: TarEntry): void {
    for (const [name, value] of entry.xattrs) {
      if (name === POSIX_ACL_ACCESS || name === POSIX_ACL_DEFAULT || name === SECURITY_CAPABILITY) continue;
      this.trySetXattr(abs, name, value, entry);
    }
    const cap = entry.xattrs.get(SECURITY_CAPABILITY);
    if (cap !== undefined && entry.type !== 'symlink') this.trySetXattr(abs, SECURITY_CAPABILITY, cap, entry);
  }

  private trySetXattr(abs: string, name: string, value: Buffer, entry: TarEntry): void {
    try {
      setXattr(abs, name, value);
    } catch (e) {
      if (!isFsidmapError(e)) throw e;
      this.warn({
        code: 'TAR_XATTR_NOT_SET',
        message: `${entry.path}: xattr ${name} not set: ${e.message}`,
        offset: entry.offset,
        path: entry.path,
      });
    }
  }

  private skip(entry: TarEntry, rel: string, why: string): void {
    this.warn({ code: 'TAR_UNSAFE_PATH', message: `${entry.path}: skipped: ${why}`, offset: entry.offset, path: rel });
    this.counts.skipped++;
  }

  private ioError(e: unknown, path: string): unknown {
    if (isFsidmapError(e)) return e;
    const err = e as NodeJS.ErrnoException;
    return new FsidmapError('ERR_UNPACK_IO', `${path}: ${err.syscall ?? 'write'} failed: ${err.code ?? err.message}`, {
      context: { path, errno: err.code, syscall: err.syscall },
      cause: e,
      hint:
        err.code === 'EPERM'
          ? 'setting owners needs root, or a user namespace whose map covers the shifted ids'
          : err.code === 'ENOSPC'
            ? 'the target filesystem is full'
            : undefined,
    } as ConstructorParameters<typeof FsidmapError>[2]);
  }
}

function writeAll(fd: number, bytes: Buffer, position: number): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off, position + off);
}
