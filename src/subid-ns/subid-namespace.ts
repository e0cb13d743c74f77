import { type ChildProcess, execFile, spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { FsidmapError } from '../errors.js';
import { holdUserns, type UsernsHolder } from '../kernel/index.js';
import { mapLines, type SubidMap } from './subid-map.js';

/**
 * A user namespace of the calling (unprivileged) user with the map of
 * subid-map.ts, for work that must write files at ids the user owns only
 * through /etc/subuid: unpacking an image layer with the tar's owners,
 * removing such files again. The namespace is made by the C stage (Node is
 * multi-threaded, and unshare(CLONE_NEWUSER) refuses threads); its maps are
 * written by the setuid newuidmap and newgidmap, the tools whose policy the
 * administrator already set, so fsidmap grants nothing of its own here.
 * Commands run inside through nsenter(1) (util-linux), as the namespace's
 * root: its capabilities reach only files whose owners the map covers.
 */
export interface SubidNamespace {
  readonly map: SubidMap;
  readonly pid: number;
  /** Starts argv inside the namespace, as its uid 0. */
  spawn(argv: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Runs argv inside and waits; throws ERR_SUBID_NS_COMMAND when it fails. */
  runSync(argv: readonly string[], what: string): void;
  release(): Promise<void>;
}

export async function openSubidNamespace(map: SubidMap): Promise<SubidNamespace> {
  const holder: UsernsHolder = await holdUserns(async (pid) => {
    await newIdmap('newuidmap', pid, mapLines(map.uid), map);
    await newIdmap('newgidmap', pid, mapLines(map.gid), map);
  });
  const enter = (argv: readonly string[]) => ['--user', `--target=${holder.pid}`, '--', ...argv];
  return {
    map,
    pid: holder.pid,
    spawn(argv, options = {}) {
      return spawn('nsenter', enter(argv), options);
    },
    runSync(argv, what) {
      const r = spawnSync('nsenter', enter(argv), { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0)
        throw new FsidmapError(
          'ERR_SUBID_NS_COMMAND',
          `${what} inside ${map.user}'s user namespace failed: ${(r.stderr || String(r.error ?? r.signal)).trim()}`,
          {
            context: { argv, status: r.status, signal: r.signal },
          },
        );
    },
    release: () => holder.release(),
  };
}

function newIdmap(tool: 'newuidmap' | 'newgidmap', pid: number, lines: string, map: SubidMap): Promise<void> {
  const args = [String(pid), ...lines.trim().split(/\s+/)];
  return new Promise((resolve, reject) =>
    execFile(tool, args, { encoding: 'utf8' }, (e, _out, stderr) => {
      if (!e) return resolve();
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new FsidmapError(
          'ERR_SUBID_NEWIDMAP',
          missing
            ? `${tool} is not installed: an ordinary user's namespace needs it`
            : `${tool} ${args.join(' ')} refused ${map.user}'s map: ${stderr.trim() || e.message}`,
          {
            context: { tool, args },
            hint: missing
              ? "install shadow-utils' setuid tools (Debian: apt-get install uidmap)"
              : 'check /etc/subuid and /etc/subgid with `fsidmap subid check` (the store keeps the map of its first import)',
            cause: e,
          },
        ),
      );
    }),
  );
}
