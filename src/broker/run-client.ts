import { openSync } from 'node:fs';
import type { RangePair, RangeRegistry } from '../container/ranges.js';
import type { MapPair } from '../container/spec.js';
import { FsidmapError } from '../errors.js';
import { formatKernel } from '../idmap/index.js';
import type { DetachedMount } from '../kernel/mount/idmapped-mount.js';
import { closeFd, pidfdOpen } from '../kernel/index.js';
import { BrokerClient, type AllocationAnswer } from './client.js';

/**
 * What `fsidmap run` asks the broker for when it is not run as root: the
 * container namespace's maps (through the stage's namespace and a pidfd of
 * it), the idmapped mounts of its rootfs and volumes (detached, locked, the
 * stage attaches them inside), and — for --allocate and --fs — ranges from
 * the broker's registry. The same command line works as root, where fsidmap
 * does all of this itself.
 */
export interface RunBroker {
  /** A detached idmapped mount of source whose mount maps are maps; the caller owns it. */
  mount(source: string, maps: MapPair, readonly: boolean): Promise<DetachedMount>;
  /** Writes the maps of the user namespace process pid (the stage) is in. */
  writeMaps(pid: number, idmaps: MapPair): Promise<void>;
  close(): void;
}

/** Connects, or throws ERR_BROKER_UNAVAILABLE, whose hint says how to start a broker (or to run as root). */
export function connectRunBroker(env: NodeJS.ProcessEnv = process.env): RunBroker {
  let client: BrokerClient;
  try {
    client = BrokerClient.connect({ env });
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
  return {
    async mount(source, maps, readonly) {
      const text = { uid: formatKernel(maps.uid), gid: formatKernel(maps.gid) };
      const { fd } = await client.mount({ path: source, mountMap: text, readonly });
      let open = true;
      return {
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
    },
    async writeMaps(pid, idmaps) {
      const nsFd = openSync(`/proc/${pid}/ns/user`, 'r');
      let pidfd = -1;
      try {
        pidfd = pidfdOpen(pid);
        await client.setMaps(nsFd, pidfd, { uid: formatKernel(idmaps.uid), gid: formatKernel(idmaps.gid) });
      } finally {
        closeFd(nsFd);
        if (pidfd >= 0) closeFd(pidfd);
      }
    },
    close: () => client.close(),
  };
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
