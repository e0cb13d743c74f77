import { closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';
import { FsidmapError } from '../../errors.js';
import { type CheckKind, checkMapWrite, formatCompact, IdMap, type MapWriteVerdict, parseMap, ruleCode } from '../../idmap/index.js';
import { syscallError } from '../libc.js';

/**
 * Map writes to /proc/PID/{setgroups,gid_map,uid_map}: a map is checked once
 * (checkMaps, against the maps of the namespace that writes, read once) and
 * what was checked — the exact bytes — is what writeMapFiles writes, the one
 * function here that writes map files, for fsidmap's own namespaces
 * (writeNamespaceMaps) and for the broker's targets (userns-target.ts).
 */

export interface NamespaceMaps {
  readonly uid: IdMap;
  readonly gid: IdMap;
}

declare const checkedBrand: unique symbol;

/**
 * A uid and a gid map that checkMapWrite accepted for a privileged writer
 * against a given parent, with the bytes to write: made only by checkMaps,
 * so whoever holds one need not check again.
 */
export interface CheckedMaps extends NamespaceMaps {
  /** The uid_map and gid_map writes exactly as checked (kernel lines, unpadded). */
  readonly bytes: { readonly uid: Buffer; readonly gid: Buffer };
  readonly [checkedBrand]: true;
}

const checked = new WeakSet<object>();

export function isCheckedMaps(maps: NamespaceMaps): maps is CheckedMaps {
  return checked.has(maps);
}

/**
 * The map of the namespace fsidmap itself runs in: the parent of every
 * namespace it makes, so the lower ids it writes are checked against it.
 */
export function ownMap(kind: 'uid' | 'gid'): IdMap {
  return parseMap(readFileSync(`/proc/self/${kind}_map`, 'latin1'), `/proc/self/${kind}_map`);
}

/** Both maps of fsidmap's own namespace, read once for everything a plan checks. */
export function readOwnMaps(): NamespaceMaps {
  return { uid: ownMap('uid'), gid: ownMap('gid') };
}

/**
 * Checks both maps exactly as the kernel's map_write would for a privileged
 * writer in the namespace whose maps are parent, and throws ERR_IDMAP_<RULE>
 * (with the line and what to do) instead of letting the kernel answer a bare
 * EINVAL or EPERM. Nothing is written here.
 */
export function checkMaps(
  maps: NamespaceMaps,
  parent: NamespaceMaps,
  alreadyWritten: { uid: boolean; gid: boolean } = { uid: false, gid: false },
): CheckedMaps {
  const result = {
    uid: maps.uid,
    gid: maps.gid,
    bytes: {
      uid: checkOne('uid', maps.uid, parent.uid, alreadyWritten.uid),
      gid: checkOne('gid', maps.gid, parent.gid, alreadyWritten.gid),
    },
  } as CheckedMaps;
  checked.add(result);
  return Object.freeze(result);
}

/** One map's verdict, for the public assertMapWritable and for `projid` (which has no pair). */
export function assertMapWritable(
  kind: CheckKind,
  map: IdMap,
  parent: IdMap = ownMap(kind === 'gid' ? 'gid' : 'uid'),
  alreadyWritten = false,
): Buffer {
  return checkOne(kind, map, parent, alreadyWritten);
}

function checkOne(kind: CheckKind, map: IdMap, parent: IdMap, alreadyWritten: boolean): Buffer {
  const bytes = Buffer.from(formatCompact(map), 'latin1');
  const v = checkMapWrite(bytes, { kind, parent, writer: { privileged: true, capSetfcap: true }, alreadyWritten });
  if (!v.ok) throw mapRefusal(kind, v);
  return bytes;
}

function mapRefusal(kind: CheckKind, v: MapWriteVerdict): FsidmapError {
  return new FsidmapError(
    ruleCode(v.rule!),
    `${kind}_map would be refused by the kernel (${v.errno}${v.line === null ? '' : `, line ${v.line}`}): ${v.message}`,
    {
      hint: v.hint ?? undefined,
      context: { kind, line: v.line, rule: v.rule, errno: v.errno },
    },
  );
}

export type MapFile = 'setgroups' | 'gid_map' | 'uid_map';

export interface MapFileWrites {
  /** null: setgroups is left as it is. */
  readonly setgroups: 'allow' | 'deny' | null;
  readonly gid: Uint8Array | string;
  readonly uid: Uint8Array | string;
}

/** What to tell the user when the kernel refuses a map its writer had checked. */
export interface RefusalHints {
  readonly EPERM: string;
  readonly EINVAL: string;
}

/** Descriptors of /proc/PID map files opened O_WRONLY; setgroups only when it is written. */
export interface MapFileFds {
  readonly setgroups?: number;
  readonly gid_map: number;
  readonly uid_map: number;
}

/** The files writeMapFiles needs for these writes, in the order it writes them. */
export function mapFilesFor(writes: Pick<MapFileWrites, 'setgroups'>): MapFile[] {
  return [...(writes.setgroups !== null ? ['setgroups' as const] : []), 'gid_map', 'uid_map'];
}

/**
 * The one writer of /proc map files: setgroups (if given), then gid_map,
 * then uid_map — setgroups before gid_map is the only order the kernel
 * accepts for "deny" — each with one write(2) at offset 0, as map_write
 * demands, through descriptors the caller opened (and closes).
 */
export function writeMapFiles(pid: number, fds: MapFileFds, writes: MapFileWrites, hints: RefusalHints): void {
  if (writes.setgroups !== null) {
    // A caller's bug, not the user's: the descriptors are opened from mapFilesFor(writes).
    if (fds.setgroups === undefined) throw new Error(`writeMapFiles: /proc/${pid}/setgroups was not opened`);
    writeOnce(fds.setgroups, writes.setgroups, `/proc/${pid}/setgroups`, hints);
  }
  writeOnce(fds.gid_map, writes.gid, `/proc/${pid}/gid_map`, hints);
  writeOnce(fds.uid_map, writes.uid, `/proc/${pid}/uid_map`, hints);
}

function writeOnce(fd: number, text: Uint8Array | string, path: string, hints: RefusalHints): void {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  try {
    const n = writeSync(fd, bytes, 0, bytes.length);
    if (n !== bytes.length) throw new FsidmapError('ERR_MAP_SHORT_WRITE', `short write to ${path}: ${n} of ${bytes.length} bytes`);
  } catch (e) {
    if (e instanceof FsidmapError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw syscallError('write', path, -(err.errno ?? -22), { EPERM: hints.EPERM, EINVAL: hints.EINVAL });
  }
}

const OWN_HINTS: RefusalHints = {
  EPERM: 'the kernel refused a map fsidmap had checked: is fsidmap running as root in the initial user namespace?',
  EINVAL: 'the kernel refused a map fsidmap had checked as valid: please report this with the map',
};

/**
 * Writes setgroups, gid_map and uid_map of the user namespace of process
 * pid (a holder or a container stage). Maps from checkMaps are written as
 * checked; others are checked first (against fsidmap's own maps), so a bad
 * map never reaches the kernel. Maps are write-once: a namespace whose map
 * is written already is refused with ERR_IDMAP_ALREADY_WRITTEN, as the
 * kernel would.
 */
export function writeNamespaceMaps(pid: number, maps: NamespaceMaps, setgroups: 'allow' | 'deny' = 'allow'): void {
  const written = (kind: 'uid' | 'gid') => readFileSync(`/proc/${pid}/${kind}_map`, 'latin1') !== '';
  const already = { uid: written('uid'), gid: written('gid') };
  let ok: CheckedMaps;
  if (isCheckedMaps(maps)) {
    // The check passed, so the write is under a page: write-once is the only rule left, and the kernel checks it first.
    for (const kind of ['uid', 'gid'] as const) {
      if (already[kind]) throw mapRefusal(kind, checkMapWrite(maps.bytes[kind], { kind, alreadyWritten: true }));
    }
    ok = maps;
  } else {
    ok = checkMaps(maps, readOwnMaps(), already);
  }
  const writes: MapFileWrites = { setgroups, gid: ok.bytes.gid, uid: ok.bytes.uid };
  const fds: Partial<Record<MapFile, number>> = {};
  try {
    for (const file of mapFilesFor(writes)) fds[file] = openMapFile(pid, file);
    writeMapFiles(pid, fds as MapFileFds, writes, OWN_HINTS);
  } finally {
    for (const fd of Object.values(fds)) closeSync(fd);
  }
}

function openMapFile(pid: number, file: MapFile): number {
  const path = `/proc/${pid}/${file}`;
  try {
    return openSync(path, constants.O_WRONLY);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw syscallError('open', path, -(err.errno ?? -2), { ENOENT: "the namespace's process has exited" });
  }
}
