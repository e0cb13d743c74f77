import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FsidmapError } from '../../errors.js';
import { alreadyIdmapped } from './mount-errors.js';
import { isIdmapped, mountOf, type MountEntry } from './mountinfo.js';
import { runDir } from '../../environment.js';

/** Whether idmapped mounts of a path can be made, and if not, the error that says why. */
export interface IdmapSupport {
  readonly supported: boolean;
  readonly fsType: string | null;
  readonly mountPoint: string | null;
  /** ERR_FS_NO_IDMAP, ERR_KERNEL_NO_IDMAPPED_MOUNTS, ERR_ALREADY_IDMAPPED, … */
  readonly error: FsidmapError | null;
  /** True when the answer came from the cache. */
  readonly cached: boolean;
}

interface Cached {
  readonly supported: boolean;
  readonly code: string | null;
  readonly message: string | null;
  readonly hint: string | null;
}

/**
 * Answers are cached per filesystem — support is a property of the
 * filesystem type and the kernel — keyed by boot, device number and type,
 * in memory and in FSIDMAP_RUN_DIR/idmap-support.json (root's /run: gone at
 * reboot), so every `fsidmap run` can answer before it makes anything.
 * Only answers about the filesystem are kept: not root, a missing path or
 * an already idmapped mount say nothing about it.
 */
const memory = new Map<string, Cached>();
const FS_CODES = new Set(['ERR_FS_NO_IDMAP', 'ERR_KERNEL_NO_IDMAPPED_MOUNTS', 'ERR_MOUNT_NOT_PERMITTED']);

function cacheFile(): string {
  return join(runDir(), 'idmap-support.json');
}

let bootId: string | undefined;
function keyOf(mount: MountEntry): string {
  bootId ??= (() => {
    try {
      return readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
    } catch {
      return 'unknown-boot';
    }
  })();
  return `${bootId} ${mount.dev} ${mount.fsType}`;
}

function readDisk(): Record<string, Cached> {
  try {
    return JSON.parse(readFileSync(cacheFile(), 'utf8')) as Record<string, Cached>;
  } catch {
    return {};
  }
}

function lookup(key: string): Cached | undefined {
  const hit = memory.get(key) ?? readDisk()[key];
  if (hit) memory.set(key, hit);
  return hit;
}

function store(key: string, value: Cached): void {
  memory.set(key, value);
  if (process.geteuid?.() !== 0) return;
  try {
    const all = { ...readDisk(), [key]: value };
    mkdirSync(join(cacheFile(), '..'), { recursive: true });
    const tmp = `${cacheFile()}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(all) + '\n');
    renameSync(tmp, cacheFile());
  } catch {
    /* a cache that cannot be written is only slower */
  }
}

function fromCached(c: Cached, mount: MountEntry, path: string): IdmapSupport {
  const error = c.supported
    ? null
    : new FsidmapError(c.code ?? 'ERR_FS_NO_IDMAP', c.message ?? `${path}: no idmapped mounts`, {
        context: { path, fsType: mount.fsType, mountPoint: mount.mountPoint, cached: true },
        ...(c.hint ? { hint: c.hint } : {}),
      });
  return { supported: c.supported, fsType: mount.fsType, mountPoint: mount.mountPoint, error, cached: true };
}

/** The answer for path if known (the cache, or mountinfo for an idmapped mount), without probing; null if unknown. */
export function knownIdmapSupport(path: string): IdmapSupport | null {
  let mount: MountEntry;
  try {
    mount = mountOf(path);
  } catch {
    return null;
  }
  if (isIdmapped(mount))
    return { supported: false, fsType: mount.fsType, mountPoint: mount.mountPoint, error: alreadyIdmapped(path, mount), cached: false };
  const hit = lookup(keyOf(mount));
  return hit ? fromCached(hit, mount, path) : null;
}

/** Records what making an idmapped mount of path taught (called by whoever made one). */
export function recordIdmapSupport(path: string, outcome: FsidmapError | null): void {
  if (outcome !== null && !FS_CODES.has(outcome.code)) return;
  let mount: MountEntry;
  try {
    mount = mountOf(path);
  } catch {
    return;
  }
  if (isIdmapped(mount)) return;
  store(
    keyOf(mount),
    outcome === null
      ? { supported: true, code: null, message: null, hint: null }
      : { supported: false, code: outcome.code, message: outcome.message, hint: outcome.hint ?? null },
  );
}

/** Forget cached answers, in memory and on disk (tests; a filesystem remounted with other options). */
export function clearIdmapSupportCache(): void {
  memory.clear();
  try {
    writeFileSync(cacheFile(), '{}\n');
  } catch {
    /* no cache file */
  }
}
