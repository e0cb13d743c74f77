import { closeSync, openSync, readFileSync, writeSync, constants } from 'node:fs';
import { FsidmapError } from '../../errors.js';
import { type CheckKind, checkMapWrite, formatCompact, IdMap, parseMap } from '../../idmap/index.js';
import { syscallError } from '../libc.js';

export interface NamespaceMaps {
  readonly uid: IdMap;
  readonly gid: IdMap;
}

/**
 * The map of the namespace fsidmap itself runs in: the parent of every
 * namespace it makes, so the lower ids it writes are checked against it.
 */
export function ownMap(kind: 'uid' | 'gid'): IdMap {
  return parseMap(readFileSync(`/proc/self/${kind}_map`, 'latin1'), `/proc/self/${kind}_map`);
}

/**
 * Checks a map write exactly as the kernel's map_write would, and throws
 * ERR_IDMAP_<RULE> (with the line and what to do) instead of letting the
 * kernel answer a bare EINVAL or EPERM. Nothing is written here.
 */
export function assertMapWritable(
  kind: CheckKind,
  map: IdMap,
  parent: IdMap = ownMap(kind === 'gid' ? 'gid' : 'uid'),
  alreadyWritten = false,
): Buffer {
  const bytes = Buffer.from(formatCompact(map), 'latin1');
  const v = checkMapWrite(bytes, { kind, parent, writer: { privileged: true, capSetfcap: true }, alreadyWritten });
  if (!v.ok) {
    throw new FsidmapError(
      `ERR_IDMAP_${String(v.rule).toUpperCase().replace(/-/g, '_')}`,
      `${kind}_map would be refused by the kernel (${v.errno}${v.line === null ? '' : `, line ${v.line}`}): ${v.message}`,
      {
        hint: v.hint ?? undefined,
        context: { kind, line: v.line, rule: v.rule, errno: v.errno },
      },
    );
  }
  return bytes;
}

/** One write(2) at offset 0, as map_write demands. */
function writeProcFile(pid: number, name: string, bytes: Buffer): void {
  const path = `/proc/${pid}/${name}`;
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw syscallError('open', path, -(err.errno ?? -2), { ENOENT: "the namespace's process has exited" });
  }
  try {
    const n = writeSync(fd, bytes, 0, bytes.length);
    if (n !== bytes.length) throw new FsidmapError('ERR_MAP_SHORT_WRITE', `short write to ${path}: ${n} of ${bytes.length} bytes`);
  } catch (e) {
    if (e instanceof FsidmapError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw syscallError('write', path, -(err.errno ?? -22), {
      EPERM: 'the kernel refused a map fsidmap had checked: is fsidmap running as root in the initial user namespace?',
      EINVAL: 'the kernel refused a map fsidmap had checked as valid: please report this with the map',
    });
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes setgroups, gid_map and uid_map of the user namespace of process
 * pid (a holder or a container stage), each checked first, so a bad map
 * never reaches the kernel. setgroups is written before gid_map, the only
 * order the kernel accepts for "deny".
 */
export function writeNamespaceMaps(pid: number, maps: NamespaceMaps, setgroups: 'allow' | 'deny' = 'allow'): void {
  const written = (kind: string) => readFileSync(`/proc/${pid}/${kind}_map`, 'latin1') !== '';
  const uid = assertMapWritable('uid', maps.uid, undefined, written('uid'));
  const gid = assertMapWritable('gid', maps.gid, undefined, written('gid'));
  writeProcFile(pid, 'setgroups', Buffer.from(setgroups));
  writeProcFile(pid, 'gid_map', gid);
  writeProcFile(pid, 'uid_map', uid);
}
