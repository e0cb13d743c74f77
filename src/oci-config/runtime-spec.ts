import { CAPS } from '../userns/index.js';
/**
 * The part of the OCI runtime-spec's config.json (github.com/opencontainers/runtime-spec,
 * config.md and config-linux.md) that `fsidmap oci config` writes. Mount idmaps
 * (Mount.uidMappings/gidMappings) arrived in runtime-spec 1.1.0.
 */
export const OCI_VERSION = '1.1.0';

/** containerID: the id on the inner side; hostID: the id it stands for on the outer side. */
export interface OciIdMapping {
  readonly containerID: number;
  readonly hostID: number;
  readonly size: number;
}

export interface OciMount {
  readonly destination: string;
  readonly type: string;
  readonly source: string;
  readonly options?: readonly string[];
  /** For a mount: containerID is the id on disk, hostID the id it is seen as (an idmapped mount). */
  readonly uidMappings?: readonly OciIdMapping[];
  readonly gidMappings?: readonly OciIdMapping[];
}

export interface OciCapabilities {
  readonly bounding: readonly string[];
  readonly effective: readonly string[];
  readonly permitted: readonly string[];
  readonly inheritable: readonly string[];
  readonly ambient: readonly string[];
}

export interface OciProcess {
  readonly terminal: boolean;
  readonly user: { readonly uid: number; readonly gid: number; readonly additionalGids?: readonly number[] };
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  readonly capabilities: OciCapabilities;
  readonly noNewPrivileges: boolean;
}

export type OciNamespaceType = 'user' | 'mount' | 'pid' | 'ipc' | 'uts' | 'network' | 'cgroup';

export interface OciConfig {
  readonly ociVersion: string;
  readonly process: OciProcess;
  readonly root: { readonly path: string; readonly readonly: boolean };
  readonly hostname: string;
  readonly mounts: readonly OciMount[];
  readonly annotations: Readonly<Record<string, string>>;
  readonly linux: {
    readonly uidMappings: readonly OciIdMapping[];
    readonly gidMappings: readonly OciIdMapping[];
    readonly namespaces: ReadonlyArray<{ readonly type: OciNamespaceType }>;
  };
}

/** Every capability of Linux 6.x (CAP_LAST_CAP is CAP_CHECKPOINT_RESTORE, 40), in number order: the model's own list. */
export const ALL_CAPABILITIES: readonly string[] = CAPS;
