import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envValue } from '../environment.js';
import { FsidmapError } from '../errors.js';
import { type NsHandle, nsHandleAlive, nsHandleOf } from '../kernel/userns/ns-handle.js';
import { type Extent, parseMapText } from './map-text.js';

/**
 * The namespaces fsidmap wrote maps for, by kernel file handle, so that a
 * census can ask the kernel whether each still exists however it is kept
 * alive. A /proc walk sees processes, nsfs descriptors in processes and nsfs
 * bind mounts of mount namespaces that have a process; it cannot see a
 * namespace descriptor in flight in a socket's queue (sent with SCM_RIGHTS
 * and not yet received), a namespace kept only by another namespace it owns
 * (a network namespace's descriptor holds its owning user namespace, and
 * NS_GET_USERNS leads back to it), or a bind mount in a mount namespace that
 * itself has no process left. Each of those lets its holder enter the user
 * namespace again later and run as the ids it maps.
 *
 * One file per namespace, named by its handle, in a root-only directory on
 * /run (tmpfs: gone at reboot, as every namespace is). Written by the
 * broker's setmaps before it answers; an entry whose handle no longer opens
 * (ESTALE) is removed by the census that finds it so.
 */
export interface LedgerEntry {
  readonly handle: NsHandle;
  readonly inode: number;
  readonly uid: readonly Extent[];
  readonly gid: readonly Extent[];
  /** For people: who had it written, and when. */
  readonly by: string;
  readonly at: string;
}

/** FSIDMAP_USERNS_LEDGER, else /run/fsidmap/userns. */
export function ledgerDir(env: NodeJS.ProcessEnv = process.env): string {
  return envValue('FSIDMAP_USERNS_LEDGER', env) ?? '/run/fsidmap/userns';
}

const fileOf = (dir: string, h: NsHandle) => join(dir, `${h.type}-${h.bytes}.json`);

/**
 * Records that the namespace nsFd names has these maps (as written, lower
 * column in host ids). Returns false when the kernel gives no handle for it
 * (before Linux 6.18), in which case only the /proc walk can find it.
 */
export function recordWrittenNamespace(
  nsFd: number,
  inode: number,
  maps: { uid: string; gid: string },
  by: string,
  dir = ledgerDir(),
): boolean {
  const handle = nsHandleOf(nsFd);
  if (!handle) return false;
  const entry: LedgerEntry = { handle, inode, uid: parseMapText(maps.uid), gid: parseMapText(maps.gid), by, at: new Date().toISOString() };
  const file = fileOf(dir, handle);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(tmp, JSON.stringify(entry) + '\n', { mode: 0o600 });
    renameSync(tmp, file);
  } catch (e) {
    // Unrecorded, the namespace could outlive every trace a release looks for: no maps are written then.
    throw new FsidmapError('ERR_USERNS_LEDGER', `cannot record the user namespace in ${dir}: ${(e as Error).message}`, {
      hint: 'the broker needs a directory only root can write on /run (default /run/fsidmap/userns; FSIDMAP_USERNS_LEDGER moves it)',
      context: { dir },
      cause: e,
    });
  }
  return true;
}

export interface LedgerState {
  /** Entries whose namespace still exists. */
  readonly alive: readonly LedgerEntry[];
  /** Entries the kernel could not answer for (to be taken as alive, mapping what they say). */
  readonly unknown: readonly LedgerEntry[];
}

/** Reads the ledger and asks the kernel about each entry; entries of namespaces that are gone are removed. */
export function readLedger(dir = ledgerDir()): LedgerState {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return { alive: [], unknown: [] };
  }
  const alive: LedgerEntry[] = [];
  const unknown: LedgerEntry[] = [];
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    let e: LedgerEntry;
    try {
      e = JSON.parse(readFileSync(join(dir, name), 'utf8')) as LedgerEntry;
    } catch {
      continue; // removed meanwhile by another census
    }
    const state = nsHandleAlive(e.handle);
    if (state === true) alive.push(e);
    else if (state === null) unknown.push(e);
    else rmSync(join(dir, name), { force: true });
  }
  return { alive, unknown };
}
