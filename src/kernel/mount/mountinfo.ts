import { readFileSync } from 'node:fs';
import { mountIdOf } from '../syscalls.js';

/** One line of /proc/PID/mountinfo (proc(5)). */
export interface MountEntry {
  readonly id: number;
  readonly parentId: number;
  readonly dev: string;
  /** The path inside the filesystem that is mounted (not "/" for bind mounts). */
  readonly root: string;
  readonly mountPoint: string;
  /** Per-mount options: rw/ro, nosuid, … and "idmapped" for an idmapped mount. */
  readonly options: readonly string[];
  readonly fsType: string;
  readonly source: string;
  readonly superOptions: readonly string[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (dash < 0 || f.length < dash + 3) continue;
    out.push({
      id: Number(f[0]),
      parentId: Number(f[1]),
      dev: f[2],
      root: unescape(f[3]),
      mountPoint: unescape(f[4]),
      options: f[5].split(','),
      fsType: f[dash + 1],
      source: unescape(f[dash + 2]),
      superOptions: (f[dash + 3] ?? '').split(','),
    });
  }
  return out;
}

export function readMountinfo(pid: number | 'self' = 'self'): MountEntry[] {
  return parseMountinfo(readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
}

/** The mount path lies on, found by its mount id (statx), so bind mounts and overmounts are told apart. */
export function mountOf(path: string): MountEntry {
  const id = mountIdOf(path);
  const entry = readMountinfo().find((m) => m.id === id);
  if (!entry) throw new Error(`mount ${id} of ${path} is not in /proc/self/mountinfo`);
  return entry;
}

export function isIdmapped(entry: MountEntry): boolean {
  return entry.options.includes('idmapped');
}

/** Mounts whose mount point is path or lies beneath it. */
export function mountsUnder(path: string, entries: readonly MountEntry[] = readMountinfo()): MountEntry[] {
  const prefix = path.endsWith('/') ? path : path + '/';
  return entries.filter((m) => m.mountPoint === path || m.mountPoint.startsWith(prefix));
}
