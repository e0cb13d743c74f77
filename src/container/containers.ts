import { FsidmapError } from '../errors.js';
import { listSaved, readSaved, removeSaved, type SavedContainer, type SavedPaths, savedPaths, sweepHidden } from './saved.js';
import type { ImageHolds } from './spec.js';
import { listStates, reserveName } from './state.js';

/**
 * `fsidmap container list|rm`: the containers made from images (kept ones,
 * and those running now), and their removal. A removal holds the name's
 * reservation, as a start does, so it cannot race one.
 */
export interface ContainerSummary {
  readonly name: string;
  readonly image: string;
  readonly digest: string;
  readonly status: 'running' | 'stopped';
  /** Kept after exit (false: removed when it exits). */
  readonly keep: boolean;
  readonly createdAt: string;
  readonly lastStartedAt: string | null;
  /** The id maps it runs with now, or ran with last (kernel format, compact). */
  readonly uidMap: string | null;
  readonly gidMap: string | null;
  /** The fsidmap process that runs it, when running. */
  readonly pid: number | null;
}

export function listContainers(env: NodeJS.ProcessEnv = process.env): ContainerSummary[] {
  const running = new Map(listStates(env).map((s) => [s.name, s]));
  return listSaved(env).map((s: SavedContainer) => {
    const live = running.get(s.name);
    return {
      name: s.name,
      image: s.image.ref,
      digest: s.image.digest,
      status: live ? 'running' : 'stopped',
      keep: s.keep,
      createdAt: s.createdAt,
      lastStartedAt: s.lastStartedAt,
      uidMap: live?.uidMap || s.lastUidMap,
      gidMap: live?.gidMap || s.lastGidMap,
      pid: live?.pid ?? null,
    };
  });
}

/** Removes a stopped container and its writable layer; refuses a running one and an unknown name. */
export async function removeContainer(name: string, env: NodeJS.ProcessEnv = process.env, holds?: ImageHolds): Promise<void> {
  await withStopped(name, env, { corruptOk: true }, async (saved) => {
    if (!removeSaved(name, env)) throw notFound(name);
    if (saved) await holds?.release(name, saved.image);
    sweepHidden(env);
  });
}

/**
 * Runs fn on a stopped container (fsidmap commit reads its upper dir while
 * nothing can start it), holding the name's reservation meanwhile.
 */
export async function withStoppedContainer<T>(
  name: string,
  env: NodeJS.ProcessEnv,
  fn: (saved: SavedContainer, paths: SavedPaths) => Promise<T>,
): Promise<T> {
  return withStopped(name, env, { corruptOk: false }, async (saved) => {
    if (!saved) throw notFound(name);
    return fn(saved, savedPaths(name, env));
  });
}

async function withStopped<T>(
  name: string,
  env: NodeJS.ProcessEnv,
  options: { corruptOk: boolean },
  fn: (saved: SavedContainer | null) => Promise<T>,
): Promise<T> {
  let reservation: ReturnType<typeof reserveName>;
  try {
    reservation = reserveName({ name, stagePid: null, initPid: null, rootfs: null, uidMap: '', gidMap: '' }, env);
  } catch (e) {
    if (e instanceof FsidmapError && e.code === 'ERR_NAME_IN_USE') {
      // The name is reserved by a start, or by another commit or removal: the pid says which process.
      const pid = e.context.pid ?? null;
      throw new FsidmapError(
        'ERR_CONTAINER_RUNNING',
        `the container "${name}" is running, or being committed or removed${pid !== null ? ` (fsidmap pid ${String(pid)})` : ''}`,
        {
          context: { name, pid },
          hint: 'stop it first (SIGTERM to its fsidmap run), or wait for that commit or removal, then try again',
        },
      );
    }
    throw e;
  }
  try {
    let saved: SavedContainer | null = null;
    try {
      saved = readSaved(name, env);
    } catch (e) {
      // A corrupt record: rm still removes the directory.
      if (!(options.corruptOk && e instanceof FsidmapError && e.code === 'ERR_CONTAINER_CORRUPT')) throw e;
    }
    return await fn(saved);
  } finally {
    reservation.release();
  }
}

function notFound(name: string): FsidmapError {
  return new FsidmapError('ERR_CONTAINER_NOT_FOUND', `there is no container named "${name}"`, {
    context: { name },
    hint: 'fsidmap container list shows them',
  });
}
