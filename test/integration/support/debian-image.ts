import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliPath } from './run-fixtures.js';

/**
 * A real Debian rootfs for the tests: `mmdebstrap --variant=minbase bookworm`
 * (about 8,700 entries owned by 0, 42, 43, …), built once a day into a cache
 * under the temp dir, and stored on disk shifted to offset+ by extracting
 * the tarball as uid 0 of a user namespace whose 0 is offset — with
 * `fsidmap run` itself (no rootfs: the host's tree through the id map), so
 * tar's own chown lands every owner at offset+id.
 */
export const debianSkip: string | undefined =
  spawnSync('sh', ['-c', 'command -v mmdebstrap'], { encoding: 'utf8' }).status !== 0
    ? 'needs mmdebstrap (Debian package mmdebstrap, installed by scripts/setup.sh --test)'
    : undefined;

export function debianCacheDir(): string {
  const day = new Date().toISOString().slice(0, 10);
  return join(tmpdir(), `fsidmap-debian-${day}`);
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${(r.stderr ?? '').slice(-2000)}`);
}

/** Runs fn while holding an exclusive lock directory (concurrent test processes build the cache once). */
async function withLock<T>(lock: string, fn: () => T): Promise<T> {
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock older than 15 minutes belongs to a build that died.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 15 * 60_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        /* gone */
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** A directory of the host that exists and can take a volume (the extraction runs with the host's tree as its root). */
function hostMountPoint(): string {
  for (const d of ['/mnt', '/srv', '/media', '/opt']) {
    try {
      if (statSync(d).isDirectory()) return d;
    } catch {
      /* next */
    }
  }
  throw new Error('no /mnt, /srv, /media or /opt directory to mount the cache on');
}

/** The path of a Debian minbase rootfs stored at offset+ (built or taken from today's cache). */
export async function debianRootfs(offset: number): Promise<string> {
  const cache = debianCacheDir();
  mkdirSync(cache, { recursive: true });
  // The extraction runs as the namespace's root (host uid offset), which must be able to reach the cache.
  chmodSync(cache, 0o755);
  const tarball = join(cache, 'bookworm-minbase.tar');
  const rootfs = join(cache, `rootfs-${offset}`);
  return withLock(join(cache, 'lock'), () => {
    if (!existsSync(tarball) || !statSync(tarball).isFile()) {
      rmSync(tarball, { recursive: true, force: true });
      // mmdebstrap picks the output format from the name's extension: keep it .tar.
      const tmp = join(cache, 'bookworm-minbase.partial.tar');
      rmSync(tmp, { force: true });
      run('mmdebstrap', ['--quiet', '--variant=minbase', 'bookworm', tmp]);
      renameSync(tmp, tarball);
    }
    if (!existsSync(join(rootfs, 'etc', 'debian_version'))) {
      const tmp = `${rootfs}.tmp`;
      rmSync(tmp, { recursive: true, force: true });
      rmSync(rootfs, { recursive: true, force: true });
      mkdirSync(tmp);
      chownSync(tmp, offset, offset);
      const at = hostMountPoint();
      const name = `${tmp.split('/').pop()}`;
      run(process.execPath, [
        cliPath,
        'run',
        '--idmap',
        `0:${offset}:65536`,
        '--volume',
        `${cache}:${at}`,
        '--',
        'tar',
        '--numeric-owner',
        '-xpf',
        `${at}/bookworm-minbase.tar`,
        '-C',
        `${at}/${name}`,
        '--exclude=./dev/*',
      ]);
      renameSync(tmp, rootfs);
      writeFileSync(join(cache, `rootfs-${offset}.built`), new Date().toISOString());
    }
    return rootfs;
  });
}

/** Number of entries in a tree (for the test's report). */
export function countEntries(dir: string): number {
  let n = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      n++;
      if (e.isDirectory()) walk(join(d, e.name));
    }
  };
  walk(dir);
  return n;
}
