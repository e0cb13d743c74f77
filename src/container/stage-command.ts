import type { DetachedMount } from '../kernel/index.js';
import { type CheckedInput, DEFAULT_PATH, type RunPlan } from './prepare.js';
import type { PrivilegePort } from './privilege-port.js';
import type { RunSpec } from './spec.js';
import { envValue } from '../environment.js';

/** The mounts a port made for a plan: null where the stage bind-mounts the source itself. */
export interface StageMounts {
  readonly rootfs: DetachedMount | null;
  /** An image's layers, lowest first, and its writable layer's directory (holding upper/ and work/). */
  readonly layers: readonly DetachedMount[];
  readonly rw: DetachedMount | null;
  readonly volumes: ReadonlyArray<DetachedMount | null>;
}

/** How native/fsidmap-stage.c is told to run one container: its argv, environment and the mount fds it inherits. */
export interface StageCommand {
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Inherited as fds 4, 5, … (3 is the control socket), in the order the args name them. */
  readonly fds: readonly number[];
  /** For ps and leak checks: fsidmap-stage:NAME. */
  readonly argv0: string;
}

export interface StageCommandInput {
  readonly spec: RunSpec;
  readonly name: string;
  readonly input: CheckedInput;
  readonly plan: RunPlan;
  readonly mounts: StageMounts;
  readonly attach: PrivilegePort['attach'];
  /** The host environment: TERM and the test hook are taken from it. */
  readonly hostEnv: NodeJS.ProcessEnv;
}

export function stageCommand({ spec, name, input, plan, mounts, attach, hostEnv }: StageCommandInput): StageCommand {
  const fds: number[] = [];
  const fdOf = (m: DetachedMount) => {
    fds.push(m.fd);
    return 3 + fds.length;
  };
  const args = ['run'];
  if (attach === 'inside') args.push('--attach', 'inside');
  if (input.rootfs !== null) {
    args.push('--rootfs', input.rootfs);
    if (mounts.rootfs) args.push('--root-fd', String(fdOf(mounts.rootfs)));
    // overlayfs takes its lower layers topmost first.
    for (const l of [...mounts.layers].reverse()) args.push('--lower-fd', String(fdOf(l)));
    if (mounts.rw) args.push('--rw-fd', String(fdOf(mounts.rw)));
  }
  if (input.cwd !== null && input.cwd !== '/') args.push('--cwd', input.cwd);
  if (spec.network === 'none') args.push('--network', 'none');
  if (spec.tty) args.push('--tty', '1');
  input.volumes.forEach((v, i) => {
    const m = mounts.volumes[i];
    if (m) args.push('--volume', `${fdOf(m)}:${v.target}`);
    else args.push('--bind-volume', `${v.hostSource}:${v.target}${v.readonly ? ':ro' : ''}`);
  });
  const hostname = containerHostname(spec, name);
  const u = input.user;
  args.push('--hostname', hostname, '--uid', String(u.uid), '--gid', String(u.gid), '--groups', u.groups.join(','));
  if (plan.devptsGid !== null) args.push('--devpts-gid', String(plan.devptsGid));
  // Test hook (see native/fsidmap-stage.c): make a setup step fail or hang.
  const fault = envValue('FSIDMAP_TEST_STAGE_FAULT', hostEnv);
  if (fault) args.push('--fault', fault);
  args.push('--stop-timeout', String(spec.stopTimeout ?? 10), '--', ...input.command);
  const env = containerEnv(input, hostname, hostEnv);
  return { args, env, fds, argv0: `fsidmap-stage:${name}` };
}

export function containerHostname(spec: RunSpec, name: string): string {
  return spec.hostname ?? name;
}

/** CMD's environment: fsidmap's defaults, TERM from the host, then the image's Env and the run's own (`oci config` writes the same). */
export function containerEnv(input: CheckedInput, hostname: string, hostEnv: NodeJS.ProcessEnv): Record<string, string> {
  const u = input.user;
  const env: Record<string, string> = { PATH: DEFAULT_PATH, HOME: u.home, HOSTNAME: hostname, container: 'fsidmap' };
  if (u.name) {
    env.USER = u.name;
    env.LOGNAME = u.name;
  }
  if (hostEnv.TERM) env.TERM = hostEnv.TERM;
  // The image's Env and the run's --env-file/--env come last: they may set PATH, HOME, TERM.
  Object.assign(env, input.env);
  return env;
}
