import type { CheckedMaps, DetachedMount } from '../kernel/index.js';
import { abortError } from './stage-channel.js';

/**
 * The privileged steps of a container, as one port: what fsidmap does
 * itself as root (root-port.ts) and what the broker does for an ordinary
 * user (src/broker/run-port.ts). The caller chooses one once and hands it
 * in (StartOptions.port); start.ts never asks who it runs as.
 *
 * Two steps today, each meant to serve the next users unchanged:
 * - mount: detached mounts of host directories, idmapped by checked mount
 *   maps or plain, read-only or not — a container's rootfs and volumes now,
 *   and for an overlay rootfs its lower layers (stored layer directories,
 *   read-only) and its upper+work dir (one read-write mount of the
 *   container's state dir), which the stage then stacks from inside the
 *   container's user namespace. Several at once, so a port can share what
 *   the requests have in common (root: one holder namespace per distinct
 *   map; a broker could answer them in one round trip).
 * - writeMaps: the id maps of the container's user namespace.
 * Joining a running container (exec) needs no privileged step: the caller
 * enters namespaces it already owns. A new step goes here, as one more
 * method implemented by both ports.
 */
export interface PrivilegePort {
  /** For messages: who does the privileged steps. */
  readonly kind: 'root' | 'broker';
  /**
   * Where the stage attaches the mounts. 'host': in a mount namespace of
   * the initial user namespace, before it makes the container's (root: the
   * kernel then locks them for the container). 'inside': in the
   * container's own namespaces (an ordinary user, who can attach nothing
   * before it has a user namespace; the broker locked the mounts' flags).
   */
  readonly attach: 'host' | 'inside';
  /**
   * One detached mount per request, in order, each the caller's to pass on
   * or close. null (only for a plain request, maps null) where the port
   * cannot clone a tree: the stage then bind-mounts the source itself,
   * inside. All or nothing: on a failure, or an abort before a mount,
   * every mount made so far is closed before the error is thrown.
   */
  mount(requests: readonly MountRequest[], signal?: AbortSignal): Promise<Array<DetachedMount | null>>;
  /** Writes setgroups ("allow"), gid_map and uid_map of the user namespace process pid is in. */
  writeMaps(pid: number, maps: CheckedMaps): Promise<void>;
  /** Releases what the port holds (the broker's connection); the caller that made the port calls it. */
  close(): void;
}

export interface MountRequest {
  /** An absolute host path, resolved by the caller (realpath). */
  readonly source: string;
  /** Mount maps (on-disk id → kernel id), checked; null: a plain bind mount. */
  readonly maps: CheckedMaps | null;
  readonly readonly: boolean;
}

/**
 * mount()'s contract for ports that make one mount at a time: abort checked
 * before each, and on any failure the ones made are closed.
 */
export async function mountEach(
  requests: readonly MountRequest[],
  signal: AbortSignal | undefined,
  makeOne: (request: MountRequest) => Promise<DetachedMount | null>,
): Promise<Array<DetachedMount | null>> {
  const made: Array<DetachedMount | null> = [];
  try {
    for (const r of requests) {
      if (signal?.aborted) throw abortError(signal);
      made.push(await makeOne(r));
    }
    return made;
  } catch (e) {
    for (const m of made) m?.close();
    throw e;
  }
}
