import { openSync } from 'node:fs';
import { mountEach, type PrivilegePort } from '../container/privilege-port.js';
import type { RangePair, RangeRegistry } from '../container/ranges.js';
import { FsidmapError } from '../errors.js';
import { formatKernel } from '../idmap/index.js';
import { closeFd, type DetachedMount, type NamespaceMaps, pidfdOpen } from '../kernel/index.js';
import { BrokerClient, type AllocationAnswer } from './client.js';

/**
 * `fsidmap run` for an ordinary user: the container's privileged steps
 * (container/privilege-port.ts) done by the broker. It writes the container
 * namespace's maps (named by the stage's namespace and a pidfd of it) and
 * makes the idmapped mounts (detached, nodev, flags locked; the stage
 * attaches them inside); the mounts without an fsid map are plain binds the
 * stage makes itself.
 */
export function connectBrokerPort(env: NodeJS.ProcessEnv = process.env): PrivilegePort {
  const client = connectForRun(env);
  return {
    kind: 'broker',
    attach: 'inside',
    mount: (requests, signal) =>
      mountEach(requests, signal, async ({ source, maps, readonly }) => {
        if (!maps) return null;
        const { fd } = await client.mount({ path: source, mountMap: textOf(maps), readonly });
        let open = true;
        const m: DetachedMount = {
          fd,
          source,
          maps,
          readonly,
          close() {
            if (open) {
              open = false;
              closeFd(fd);
            }
          },
        };
        return m;
      }),
    async writeMaps(pid, idmaps) {
      const nsFd = openSync(`/proc/${pid}/ns/user`, 'r');
      let pidfd = -1;
      try {
        pidfd = pidfdOpen(pid);
        await client.setMaps(nsFd, pidfd, textOf(idmaps));
      } finally {
        closeFd(nsFd);
        if (pidfd >= 0) closeFd(pidfd);
      }
    },
    close: () => client.close(),
  };
}

/** Connects, or throws ERR_BROKER_UNAVAILABLE, whose hint says how to start a broker (or to run as root). */
function connectForRun(env: NodeJS.ProcessEnv): BrokerClient {
  try {
    return BrokerClient.connect({ env });
  } catch (e) {
    if (e instanceof FsidmapError && e.code === 'ERR_BROKER_UNAVAILABLE') {
      throw new FsidmapError(e.code, `${e.message}; without a broker, fsidmap run would need root`, {
        context: e.context,
        hint: `${e.hint ?? ''}; or run fsidmap as root`,
        cause: e,
      });
    }
    throw e;
  }
}

/**
 * The maps as the protocol carries them: kernel lines as /proc shows them
 * (what this client has always sent, and what the audit log records). The
 * broker parses and checks them again under its own policy and writes its
 * own checked text.
 */
function textOf(maps: NamespaceMaps): { uid: string; gid: string } {
  return { uid: formatKernel(maps.uid), gid: formatKernel(maps.gid) };
}

const pairOf = (a: AllocationAnswer): RangePair => ({ uid: a.uid, gid: a.gid });

/**
 * `run --allocate / --fs` for an ordinary user: the broker's registry,
 * where ranges are the user's own (`fsidmap broker alloc`), instead of a
 * database the user could write to itself.
 */
export function brokerRunRegistry(env: NodeJS.ProcessEnv = process.env): RangeRegistry {
  const client = BrokerClient.connect({ env });
  return {
    async acquireContainer(name) {
      return pairOf((await client.alloc(name, { kind: 'container' })).allocation);
    },
    async fsRanges(name) {
      const a = (await client.list()).find((x) => x.name === name);
      if (!a || a.kind === 'container') {
        throw new FsidmapError('ERR_NO_SUCH_ALLOCATION', `you hold no image or volume "${name}" in the broker's registry`, {
          context: { name },
          hint: `allocate its on-disk range first: fsidmap broker alloc ${name} --kind image`,
        });
      }
      return pairOf(a);
    },
    async releaseContainer(name) {
      try {
        await client.release(name);
      } catch (e) {
        if (!(e instanceof FsidmapError && e.code === 'ERR_NO_SUCH_ALLOCATION')) throw e;
      }
    },
    async close() {
      client.close();
    },
  };
}
