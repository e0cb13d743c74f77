import { lstatSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Readable, pipeline } from 'node:stream';
import { FsidmapError } from '../errors.js';
import {
  mapLines,
  mapSize,
  openSubidNamespace,
  type SubidExtent,
  type SubidMap,
  type SubidNamespace,
  subidMapFor,
} from '../subid-ns/index.js';
import { readJsonFile, writeJsonAtomic } from './json-file.js';
import type { LayerUnpacker, UnpackedLayer } from './layer-unpack.js';
import type { LayerLimits } from './layer-writer.js';
import type { StoreLayout } from './store-layout.js';
import type { UpperTarStats } from './upper-tar.js';
import type { UpperJob, WorkerJob } from './userns-worker.js';

/**
 * An ordinary user's store (issue 12, part 5). Its layers are unpacked
 * inside a user namespace of the user's (src/subid-ns): image id 0 is the
 * user's own uid/gid, ids 1..N their first subordinate range, so on disk a
 * file the tar gives to uid x is owned by the map's image of x. The map is
 * fixed at the store's first import (idmap.json) — the layers' owners
 * depend on it — and resolve() hands it to `run --image` as the image's
 * fsid map. Removing such files takes the namespace too (the user cannot
 * unlink in a directory a subordinate id owns).
 */
export type StoreMap = SubidMap;

export function isUserStore(): boolean {
  return (process.geteuid?.() ?? 0) !== 0;
}

export function readStoreMap(L: StoreLayout): StoreMap | undefined {
  return readJsonFile<StoreMap>(L.idmap);
}

/** The map as the text of a map file (image id → on-disk id), for ResolvedImage.fsidmap. */
export function storeFsidmap(m: StoreMap): { uid: string; gid: string } {
  return { uid: mapLines(m.uid), gid: mapLines(m.gid) };
}

/** A user's store must be theirs: a store of someone else's would be written with their ids under another user's map. */
export function checkStoreOwner(L: StoreLayout): void {
  const uid = process.geteuid!();
  let owner: number | undefined;
  try {
    owner = lstatSync(L.root).uid;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (owner !== undefined && owner !== uid)
    throw new FsidmapError('ERR_IMAGE_STORE_OWNER', `the image store ${L.root} belongs to uid ${owner}, not to you (uid ${uid})`, {
      context: { store: L.root, owner, uid },
      hint: 'use a store of your own (--store DIR, or the default under your XDG state dir); a store is written by its owner only',
    });
}

/**
 * The store's map: the one of its first import, else the caller's from
 * /etc/subuid and /etc/subgid. Read before the store is touched (a user
 * without subordinate ids gets ERR_SUBID_NO_RANGE and no directory);
 * `recordStoreMap` writes a new one once the store exists, before any layer.
 */
export function storeMapFor(L: StoreLayout): StoreMap {
  const recorded = readStoreMap(L);
  if (recorded) {
    if (recorded.uid[0]?.lower !== process.geteuid!())
      throw new FsidmapError('ERR_IMAGE_STORE_OWNER', `the image store ${L.root} was made by ${recorded.user}, not by this user`, {
        context: { store: L.root, recordedUid: recorded.uid[0]?.lower },
        hint: 'use a store of your own (--store DIR)',
      });
    return recorded;
  }
  return subidMapFor({ uid: process.geteuid!(), gid: process.getegid!() });
}

export function recordStoreMap(L: StoreLayout, m: StoreMap): void {
  if (!readStoreMap(L)) writeJsonAtomic(L.idmap, m);
}

export function limitsOf(m: StoreMap): LayerLimits {
  const show = (kind: string, ex: readonly SubidExtent[]) =>
    ex
      .map((e) =>
        e.count === 1
          ? `${kind} ${e.first} → ${e.lower}`
          : `${kind}s ${e.first}..${e.first + e.count - 1} → ${e.lower}..${e.lower + e.count - 1}`,
      )
      .join(', ');
  return { uids: mapSize(m.uid), gids: mapSize(m.gid), describe: `${show('uid', m.uid)}; ${show('gid', m.gid)}` };
}

export function openStoreNamespace(m: StoreMap): Promise<SubidNamespace> {
  return openSubidNamespace(m);
}

const WORKER = fileURLToPath(new URL('./userns-worker.js', import.meta.url));

interface WorkerAnswer {
  readonly ok: boolean;
  readonly layer?: UnpackedLayer;
  readonly upper?: UpperTarStats;
  readonly error?: { code: string; message: string; hint: string | null; context: Record<string, unknown> };
}

/**
 * Runs one job in a worker inside the namespace. stdin: what to stream to
 * it; lockFd: the staging's lock, inherited as fd 3, so gc leaves the
 * staging alone until the worker is gone (even if this process is killed).
 */
function runWorker(
  ns: SubidNamespace,
  job: WorkerJob | UpperJob,
  what: string,
  options: { stdin?: Readable; lockFd?: number; signal?: AbortSignal },
): Promise<WorkerAnswer> {
  return new Promise((resolve, reject) => {
    const child = ns.spawn([process.execPath, WORKER, JSON.stringify(job)], {
      stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', ...(options.lockFd === undefined ? [] : [options.lockFd])],
      cwd: dirname(WORKER),
    });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    // The worker stops reading when it refuses an entry: EPIPE on its stdin is its answer arriving, not a failure.
    if (options.stdin) pipeline(options.stdin, child.stdin!, () => undefined);
    const onAbort = () => child.kill('SIGKILL');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (e) => reject(e));
    child.once('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (options.signal?.aborted)
        return reject(new FsidmapError('ERR_IMAGE_ABORTED', `${what}: stopped by its caller`, { hint: 'nothing was stored' }));
      let answer: WorkerAnswer;
      try {
        answer = JSON.parse(out.trim().split('\n').pop() ?? '') as WorkerAnswer;
      } catch {
        return reject(
          new FsidmapError(
            'ERR_IMAGE_WORKER',
            `${what}: the worker in the user namespace ended (${signal ?? `status ${code}`}) without an answer`,
            {
              context: { stderr: err.trim().slice(-2000) },
              hint: 'see the worker output in the context (is dist/ readable by this user?)',
            },
          ),
        );
      }
      if (answer.ok) return resolve(answer);
      const e = answer.error!;
      reject(new FsidmapError(e.code, e.message, { context: e.context, ...(e.hint ? { hint: e.hint } : {}) }));
    });
  });
}

/** unpackLayerBlob, run by a worker inside the namespace; the blob streams to it from here. */
export function namespaceUnpacker(ns: SubidNamespace, limits: LayerLimits): LayerUnpacker {
  return async (blob, dir, options) => {
    const job: WorkerJob = {
      dir,
      ...(options.blobPath === undefined ? {} : { blobPath: options.blobPath }),
      ...(blob.digest === undefined ? {} : { digest: blob.digest }),
      compression: blob.compression,
      ...(blob.diffId === undefined ? {} : { diffId: blob.diffId }),
      ...(blob.size === undefined ? {} : { size: blob.size }),
      label: blob.label,
      limits,
    };
    const a = await runWorker(ns, job, blob.label, {
      stdin: blob.open(),
      ...(options.stagingLockFd === undefined ? {} : { lockFd: options.stagingLockFd }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return a.layer!;
  };
}

/** writeUpperTar, run inside the namespace: there the upper dir's owners read as the image's ids, and every file is readable. */
export function namespaceUpperTar(ns: SubidNamespace): (upperDir: string, tarPath: string, lockFd: number) => Promise<UpperTarStats> {
  return async (upperDir, tarPath, lockFd) =>
    (await runWorker(ns, { kind: 'upper', upperDir, tarPath }, `the upper dir ${upperDir}`, { lockFd })).upper!;
}

/** rm -rf inside the namespace, when this user may not remove a tree with subordinate owners themselves. */
export function namespaceRemover(ns: SubidNamespace): (path: string) => void {
  return (path) => {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EACCES' && code !== 'EPERM') throw e;
      ns.runSync(['rm', '-rf', '--one-file-system', '--', path], `removing ${path}`);
    }
  };
}

/** Root writing into a user's store would store layers at the tar's ids, not at the store's map of them: refused. */
export function refuseRootInUserStore(L: StoreLayout): void {
  const m = readStoreMap(L);
  if (m)
    throw new FsidmapError(
      'ERR_IMAGE_STORE_OWNER',
      `the image store ${L.root} is ${m.user}'s: its layers are stored under their map (idmap.json)`,
      {
        context: { store: L.root, user: m.user },
        hint: `import as ${m.user} (their layers are unpacked in their user namespace), or into root's own store`,
      },
    );
}
