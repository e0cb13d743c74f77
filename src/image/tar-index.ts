import { closeSync, openSync, readSync } from 'node:fs';
import { TarEntryParser } from '../tar/entry-parser.js';
import { normalizeEntryPath } from '../tar/image-entry.js';

/**
 * Where each member's data lies in an uncompressed tar file, so members can
 * be streamed later by byte range (a docker-archive's layers are tars inside
 * a tar). One pass over the file with the entry parser; data is not kept.
 * `stopAt` ends the pass early (a path no docker-archive has shows the file
 * is a rootfs tar).
 */
export interface TarMember {
  readonly path: string;
  readonly type: string;
  readonly linkpath: string;
  /** First byte of the data in the file; -1 for members without data. */
  readonly offset: number;
  readonly size: number;
}

const CHUNK = 1 << 20;

export function indexTar(
  path: string,
  stopAt: (m: TarMember) => boolean = () => false,
): { members: Map<string, TarMember>; stopped: boolean } {
  const members = new Map<string, TarMember>();
  const fd = openSync(path, 'r');
  const parser = new TarEntryParser(() => undefined);
  let pos = 0;
  let pending: { path: string; type: string; linkpath: string; size: number } | null = null;
  let dataAt = -1;
  const close = (): TarMember | undefined => {
    if (pending === null) return undefined;
    const m: TarMember = { ...pending, offset: pending.size === 0 ? -1 : dataAt };
    members.set(m.path, m);
    pending = null;
    dataAt = -1;
    return m;
  };
  try {
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK);
      const n = readSync(fd, chunk, 0, CHUNK, pos);
      if (n === 0) break;
      const view = chunk.subarray(0, n);
      for (const ev of parser.push(view)) {
        if (ev.kind === 'entry') {
          const m = close();
          if (m && stopAt(m)) return { members, stopped: true };
          pending = { path: normalizeEntryPath(ev.entry.path), type: ev.entry.type, linkpath: ev.entry.linkpath, size: ev.entry.size };
        } else if (ev.kind === 'data' && dataAt < 0) dataAt = pos + (ev.bytes.byteOffset - view.byteOffset);
      }
      pos += n;
    }
    parser.end();
    const m = close();
    if (m && stopAt(m)) return { members, stopped: true };
    return { members, stopped: false };
  } finally {
    closeSync(fd);
  }
}
