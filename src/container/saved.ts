import { randomBytes } from 'node:crypto';
import { chmodSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FsidmapError } from '../errors.js';
import { stateDir } from '../environment.js';
import { fsyncDir, writeFileAtomic } from '../host/index.js';
import type { ImageSpec } from './spec.js';

/**
 * Containers that last: one directory per container made from an image,
 * STATE/containers/NAME (STATE being environment.ts's stateDir), holding
 *   container.json   what it was made from (the image's digest and layers) and when it ran,
 *   upper/           its writable layer: overlayfs's upper dir, at the image's ids,
 *   work/            overlayfs's work dir (same mount as upper, as overlay requires:
 *                    the stage gets one idmapped mount of NAME itself).
 * Every rootfs is mounted on STATE/containers/.mnt, each inside the
 * container's own mount namespace (the host never sees it mounted), so that
 * a container costs four directories and one small file on disk before it
 * writes anything.
 * A new directory is built under a hidden name and renamed into place, and
 * a removed one is renamed away before it is deleted, so a crash at any
 * point leaves either a whole container or none under NAME (names cannot
 * start with ".", so the hidden names never collide). container.json is
 * replaced atomically. Who may change a directory is decided by the run
 * directory's name reservation (state.ts), held by every writer.
 */
export interface SavedContainer {
  readonly version: 1;
  readonly name: string;
  readonly image: ImageSpec;
  /** Kept after exit (a named run without --rm); false: removed when it exits. */
  readonly keep: boolean;
  readonly createdAt: string;
  readonly lastStartedAt: string | null;
  /** The id maps of the last start (kernel format, one line per extent), for `container list`. */
  readonly lastUidMap: string | null;
  readonly lastGidMap: string | null;
}

export interface SavedPaths {
  readonly dir: string;
  /** The directory holding upper/ and work/, mounted for the stage as one (the container's directory). */
  readonly rwDir: string;
  readonly upper: string;
  readonly work: string;
  readonly mountpoint: string;
}

export function containersDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'containers');
}

export function savedPaths(name: string, env: NodeJS.ProcessEnv = process.env): SavedPaths {
  const dir = join(containersDir(env), name);
  return { dir, rwDir: dir, upper: join(dir, 'upper'), work: join(dir, 'work'), mountpoint: join(containersDir(env), '.mnt') };
}

export function readSaved(name: string, env: NodeJS.ProcessEnv = process.env): SavedContainer | null {
  const file = join(savedPaths(name, env).dir, 'container.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const s = JSON.parse(text) as SavedContainer;
    if (s.version !== 1 || s.name !== name || !Array.isArray(s.image?.layers)) throw new Error('unexpected shape');
    return s;
  } catch (e) {
    throw new FsidmapError('ERR_CONTAINER_CORRUPT', `the state of container "${name}" (${file}) cannot be read: ${(e as Error).message}`, {
      context: { name, file },
      hint: `remove it with fsidmap container rm ${name}`,
    });
  }
}

/** Every kept (or not yet removed) container, by name. */
export function listSaved(env: NodeJS.ProcessEnv = process.env): SavedContainer[] {
  let names: string[];
  try {
    names = readdirSync(containersDir(env));
  } catch {
    return [];
  }
  const out: SavedContainer[] = [];
  for (const n of names.sort()) {
    if (n.startsWith('.')) continue;
    try {
      const s = readSaved(n, env);
      if (s) out.push(s);
    } catch {
      /* a corrupt one is listed by name only through rm's error */
    }
  }
  return out;
}

/**
 * Makes the container's directory. The upper dir takes the mode and owner of
 * the image's top layer's root, which overlay shows as the container's /.
 */
export function createSaved(
  name: string,
  image: ImageSpec,
  keep: boolean,
  env: NodeJS.ProcessEnv = process.env,
): { saved: SavedContainer; paths: SavedPaths } {
  const parent = containersDir(env);
  mkdirSync(parent, { recursive: true, mode: 0o700 });
  const paths = savedPaths(name, env);
  const tmp = join(parent, `.new-${name}-${randomBytes(4).toString('hex')}`);
  const tp = { upper: join(tmp, 'upper'), work: join(tmp, 'work') };
  const saved: SavedContainer = {
    version: 1,
    name,
    image,
    keep,
    createdAt: new Date().toISOString(),
    lastStartedAt: null,
    lastUidMap: null,
    lastGidMap: null,
  };
  try {
    mkdirSync(paths.mountpoint, { recursive: true, mode: 0o755 });
    // The writable layer's directories are the container's root's (on-disk 0 is its 0 through the mount map).
    mkdirSync(tmp, { mode: 0o755 });
    mkdirSync(tp.upper);
    mkdirSync(tp.work, { mode: 0o700 });
    const top = image.layers[image.layers.length - 1];
    if (top) {
      const st = lstatSync(top.path);
      lchownSync(tp.upper, st.uid, st.gid);
      chmodSync(tp.upper, st.mode & 0o7777);
    }
    writeFileSync(join(tmp, 'container.json'), JSON.stringify(saved, null, 2) + '\n', { mode: 0o644 });
    renameSync(tmp, paths.dir);
    fsyncDir(parent);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if ((e as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new FsidmapError('ERR_CONTAINER_EXISTS', `a container named "${name}" already exists`, {
        context: { name },
        hint: `restart it with fsidmap run --name ${name}, or remove it with fsidmap container rm ${name}`,
      });
    }
    throw e;
  }
  return { saved, paths };
}

export function updateSaved(saved: SavedContainer, patch: Partial<SavedContainer>, env: NodeJS.ProcessEnv = process.env): SavedContainer {
  const next = { ...saved, ...patch };
  writeFileAtomic(join(savedPaths(saved.name, env).dir, 'container.json'), Buffer.from(JSON.stringify(next, null, 2) + '\n', 'utf8'));
  return next;
}

/** Removes the container's directory: renamed away first, so it is gone at once even if the deletion is cut short. */
export function removeSaved(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const parent = containersDir(env);
  const gone = join(parent, `.rm-${name}-${randomBytes(4).toString('hex')}`);
  try {
    renameSync(savedPaths(name, env).dir, gone);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  fsyncDir(parent);
  rmSync(gone, { recursive: true, force: true });
  return true;
}

/** What a crash left half made or half removed (hidden directories); removed when nobody is renaming them. */
export function sweepHidden(env: NodeJS.ProcessEnv = process.env, olderThanMs = 60_000): void {
  const parent = containersDir(env);
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith('.new-') && !n.startsWith('.rm-')) continue;
    const p = join(parent, n);
    try {
      if (Date.now() - lstatSync(p).mtimeMs > olderThanMs || n.startsWith('.rm-')) rmSync(p, { recursive: true, force: true });
    } catch {
      /* raced with another sweeper */
    }
  }
}
