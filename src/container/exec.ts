import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Readable } from 'node:stream';
import { FsidmapError } from '../errors.js';
import { parseMap } from '../idmap/index.js';
import { stagePath } from '../kernel/index.js';
import { findRunning } from './lifecycle.js';
import { DEFAULT_PATH } from './prepare.js';
import { findCommand } from './in-root.js';
import { dirView, type RootView } from './root-view.js';
import { type ResolvedUser, resolveUser } from './image-users.js';
import type { UserSpec } from './spec.js';
import { stageError } from './stage-channel.js';
import type { StdioChoice } from './stage-process.js';

export interface ExecSpec {
  readonly name: string;
  readonly command: readonly string[];
  /** Default: the container's CMD user. */
  readonly user?: UserSpec;
  /** Over the container's environment. */
  readonly env?: ReadonlyArray<readonly [string, string]>;
  /** Default: CMD's working directory. */
  readonly workdir?: string;
  readonly tty?: boolean;
}

export interface ExecOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly stdio?: readonly [StdioChoice, StdioChoice, StdioChoice];
  /** Told the exec's stage once it runs, so the caller can pass signals on. */
  readonly onSpawn?: (signal: (sig: NodeJS.Signals) => void) => void;
}

/**
 * `fsidmap exec`: CMD as one more process of a running container. The C
 * stage (native/fsidmap-stage.c, exec) joins every namespace of its init
 * through a pidfd checked against init's recorded start time, its root, and
 * then the credentials; the checks made here are run's: the user resolved
 * in the container's /etc/passwd and mapped by its id map, CMD found in its
 * root. Needs no privilege of its own beyond the container's: root, or the
 * ordinary user whose container it is (that user owns its user namespace).
 * Returns CMD's exit status (128+signal when killed).
 */
export async function execInContainer(spec: ExecSpec, options: ExecOptions = {}): Promise<number> {
  const hostEnv = options.env ?? process.env;
  const state = findRunning(spec.name, hostEnv);
  if (spec.command.length === 0 || spec.command[0] === '') {
    throw new FsidmapError('ERR_USAGE', 'fsidmap exec: no command', { hint: 'fsidmap exec NAME CMD [ARGS...]' });
  }
  const base = state.exec ?? { uid: 0, gid: 0, groups: [0], env: { PATH: DEFAULT_PATH }, cwd: '/' };
  // The container's root as its init sees it (absolute symlinks there stay inside), where we may look
  // (an ordinary user's init is made dumpable for this); where we may not, the stage finds what is missing itself.
  const root = rootOf(state.initPid);
  const env: Record<string, string> = { ...base.env };
  let ids = { uid: base.uid, gid: base.gid, groups: [...base.groups] };
  if (spec.user) {
    const u = resolveExecUser(spec.user, root ?? (state.rootfs !== null && !state.fs?.includes(':') ? dirView(state.rootfs) : null));
    ids = { uid: u.uid, gid: u.gid, groups: [...u.groups] };
    env.HOME = u.home;
    if (u.name) {
      env.USER = u.name;
      env.LOGNAME = u.name;
    } else {
      delete env.USER;
      delete env.LOGNAME;
    }
    checkMapped(ids, state.uidMap, state.gidMap);
  }
  for (const [k, v] of spec.env ?? []) env[k] = v;
  const cwd = spec.workdir ?? base.cwd;
  if (root && cwd !== '/' && !root.resolve(cwd)?.stat.isDirectory()) {
    throw new FsidmapError('ERR_RUN_WORKDIR_MISSING', `the working directory ${cwd} is not a directory in the container`, {
      context: { workdir: cwd },
      hint: 'give --workdir a directory the container has',
    });
  }
  if (root && findCommand(root, spec.command[0], env.PATH ?? DEFAULT_PATH) === null) {
    throw new FsidmapError('ERR_RUN_CMD_NOT_FOUND', `${spec.command[0]}: no such executable in the container "${spec.name}"`, {
      context: { command: spec.command[0] },
      hint: 'give a command the container has, by its path inside it',
    });
  }
  const args = ['exec', '--pid', String(state.initPid), '--pid-start', state.initStart];
  args.push('--uid', String(ids.uid), '--gid', String(ids.gid), '--groups', ids.groups.join(','), '--cwd', cwd);
  if (spec.tty) args.push('--tty', '1');
  if (state.network === 'none') args.push('--network', 'none');
  args.push('--', ...spec.command);
  const stdio = options.stdio ?? ['inherit', 'inherit', 'inherit'];
  const child = spawn(stagePath(hostEnv), args, { stdio: [...stdio, 'pipe'], env, argv0: `fsidmap-exec:${spec.name}` });
  options.onSpawn?.((sig) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  });
  let said = '';
  (child.stdio[3] as Readable).setEncoding('latin1').on('data', (d: string) => {
    said += d;
  });
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, sig) => resolve(c ?? 128 + (sig ? osConstants.signals[sig] : 0)));
  });
  const error = said.split('\n').find((l) => l.startsWith('error '));
  if (error) throw stageError(error);
  return code;
}

function checkMapped(ids: { uid: number; groups: readonly number[] }, uidMap: string, gidMap: string): void {
  const u = parseMap(uidMap, 'uid map'),
    g = parseMap(gidMap, 'gid map');
  const unmapped = [
    ...(u.mapIdDown(ids.uid) === undefined ? [`uid ${ids.uid}`] : []),
    ...ids.groups.filter((x) => g.mapIdDown(x) === undefined).map((x) => `gid ${x}`),
  ];
  if (unmapped.length > 0) {
    throw new FsidmapError('ERR_RUN_USER_UNMAPPED', `--user: ${unmapped.join(', ')} not mapped by the container's id map`, {
      context: { unmapped },
      hint: "choose ids inside the id map's first column",
    });
  }
}

function rootOf(initPid: number): RootView | null {
  const path = `/proc/${initPid}/root`;
  try {
    readdirSync(path);
    return dirView(path);
  } catch {
    return null;
  }
}

/** --user against the container's /etc/passwd; without a view of it, numbers only. */
function resolveExecUser(spec: UserSpec, root: RootView | null): ResolvedUser {
  if (root) return resolveUser(spec, root);
  if (!/^\d+$/.test(spec.user) || (spec.group !== null && !/^\d+$/.test(spec.group))) {
    throw new FsidmapError('ERR_RUN_NO_SUCH_USER', `--user ${spec.user}: the container's /etc/passwd cannot be read from here`, {
      hint: 'give numeric ids, --user UID[:GID]',
    });
  }
  const gid = Number(spec.group ?? spec.user);
  return { uid: Number(spec.user), gid, groups: [gid], name: null, home: '/' };
}
