import { listContainers } from './containers.js';
import { type ContainerStatus, listAllStates, statusOf } from './state.js';

/** One line of `fsidmap ps`. */
export interface PsRow {
  readonly name: string;
  /** stopped: a kept container of an image, not running (ps -a). */
  readonly status: ContainerStatus | 'stopped';
  /** Host pid of the container's init (its pid 1); null when not running. */
  readonly pid: number | null;
  /** The fsidmap process that supervises it (run, or run -d's supervisor). */
  readonly supervisor: number | null;
  readonly uidMap: string | null;
  readonly gidMap: string | null;
  /** The rootfs's fsid map, the registry's fs allocation, or the image; null: none. */
  readonly fs: string | null;
  readonly startedAt: string | null;
  /** Whole seconds since it started; null when not running. */
  readonly uptime: number | null;
  readonly detached: boolean;
  readonly network: 'host' | 'none' | null;
}

/**
 * The containers of this run directory: running ones, and with all the
 * stale state left by a killed fsidmap or an earlier boot (shown as stale,
 * never as running) and the kept, stopped containers of images.
 */
export function psRows(env: NodeJS.ProcessEnv = process.env, options: { all?: boolean; now?: number } = {}): PsRow[] {
  const now = options.now ?? Date.now();
  const rows: PsRow[] = listAllStates(env)
    .map((s): PsRow => {
      const status = statusOf(s);
      const live = status !== 'stale';
      return {
        name: s.name,
        status,
        pid: live ? s.initPid : null,
        supervisor: live ? s.pid : null,
        uidMap: s.uidMap || null,
        gidMap: s.gidMap || null,
        fs: s.fs ?? null,
        startedAt: s.startedAt,
        uptime: live ? Math.max(0, Math.floor((now - Date.parse(s.startedAt)) / 1000)) : null,
        detached: s.detached === true,
        network: s.network ?? null,
      };
    })
    .filter((r) => options.all || r.status !== 'stale');
  if (options.all) {
    const seen = new Set(rows.map((r) => r.name));
    for (const c of listContainers(env)) {
      if (seen.has(c.name) || c.status === 'running') continue;
      rows.push({
        name: c.name,
        status: 'stopped',
        pid: null,
        supervisor: null,
        uidMap: c.uidMap,
        gidMap: c.gidMap,
        fs: c.image,
        startedAt: c.lastStartedAt,
        uptime: null,
        detached: false,
        network: null,
      });
    }
  }
  return rows.sort((a, b) => a.name.localeCompare(b.name));
}

/** 75 → 1m15s, as ps's UPTIME column shows it. */
export function formatUptime(seconds: number | null): string {
  if (seconds === null) return '-';
  const d = Math.floor(seconds / 86400),
    h = Math.floor((seconds % 86400) / 3600),
    m = Math.floor((seconds % 3600) / 60),
    s = seconds % 60;
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
