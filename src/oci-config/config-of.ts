import type { CheckedInput, RunPlan } from '../container/index.js';
import type { IdMap } from '../idmap/index.js';
import { ALL_CAPABILITIES, OCI_VERSION, type OciConfig, type OciIdMapping, type OciMount, type OciNamespaceType } from './runtime-spec.js';

export interface ConfigParts {
  readonly input: CheckedInput;
  readonly plan: RunPlan;
  readonly hostname: string;
  /** CMD's environment, as `run` gives it (container's containerEnv). */
  readonly env: Readonly<Record<string, string>>;
  /** root.path: the rootfs itself, or a mount of it that already shows it through the mount maps. */
  readonly rootPath: string;
  readonly annotations: Readonly<Record<string, string>>;
  /** run's --network: none gives the container a network namespace of its own (the runtime brings loopback up). */
  readonly network: 'host' | 'none';
}

/** An id map's extents as runtime-spec mappings, in the kernel's order (first → containerID, lower → hostID). */
export function ociMappings(map: IdMap): OciIdMapping[] {
  return map.extents.map((e) => ({ containerID: e.first, hostID: e.lower, size: e.count }));
}

/**
 * What native/fsidmap-stage.c makes, said in config.json: the same
 * namespaces (run shares the host's cgroup namespace, and its network one unless --network none), proc,
 * the minimal /dev, /tmp, and the volumes as (idmapped) recursive binds.
 */
export function configOf({ input, plan, hostname, env, rootPath, annotations, network }: ConfigParts): OciConfig {
  const u = input.user;
  // Root of the namespace keeps every capability there; another uid loses them at setresuid, as in the stage.
  const caps = u.uid === 0 ? ALL_CAPABILITIES : [];
  const namespaces: OciNamespaceType[] = ['user', 'mount', 'pid', 'ipc', 'uts', ...(network === 'none' ? (['network'] as const) : [])];
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false,
      user: { uid: u.uid, gid: u.gid, ...(u.groups.length > 0 ? { additionalGids: [...u.groups] } : {}) },
      args: [...input.command],
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      cwd: input.cwd ?? '/',
      capabilities: { bounding: ALL_CAPABILITIES, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      noNewPrivileges: false,
    },
    root: { path: rootPath, readonly: false },
    hostname,
    mounts: [...systemMounts(plan.devptsGid), ...volumeMounts(input, plan)],
    annotations,
    linux: {
      uidMappings: ociMappings(plan.idmaps.uid),
      gidMappings: ociMappings(plan.idmaps.gid),
      namespaces: namespaces.map((type) => ({ type })),
    },
  };
}

function systemMounts(devptsGid: number | null): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'nodev', 'noexec'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(devptsGid === null ? [] : [`gid=${devptsGid}`])],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
  ];
}

function volumeMounts(input: CheckedInput, plan: RunPlan): OciMount[] {
  return input.volumes.map((v, i) => {
    const maps = plan.volumeMaps[i];
    return {
      destination: v.target,
      type: 'bind',
      source: v.hostSource,
      options: ['rbind', v.readonly ? 'ro' : 'rw'],
      ...(maps ? { uidMappings: ociMappings(maps.uid), gidMappings: ociMappings(maps.gid) } : {}),
    };
  });
}
