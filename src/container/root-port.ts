import { FsidmapError } from '../errors.js';
import { type CheckedMaps, createUserns, makeDetachedMount, type UsernsHolder, writeNamespaceMaps } from '../kernel/index.js';
import { mountEach, type PrivilegePort } from './privilege-port.js';

/**
 * The privileged steps done by fsidmap itself, as root in the initial user
 * namespace: open_tree + mount_setattr through a short-lived holder
 * namespace whose maps are the mount maps (one per distinct map, released
 * once the batch is made), and the maps written straight to /proc.
 */
export function rootPrivilegePort(): PrivilegePort {
  return {
    kind: 'root',
    attach: 'host',
    async mount(requests, signal) {
      const holders = new Map<string, UsernsHolder>();
      const holderFor = async (maps: CheckedMaps): Promise<UsernsHolder> => {
        const key = `${maps.bytes.uid.toString('latin1')}|${maps.bytes.gid.toString('latin1')}`;
        let h = holders.get(key);
        if (!h) {
          h = await createUserns(maps);
          holders.set(key, h);
        }
        return h;
      };
      try {
        return await mountEach(requests, signal, async ({ source, maps, readonly }) =>
          makeDetachedMount(source, { maps, readonly, ...(maps ? { holder: await holderFor(maps) } : {}) }),
        );
      } finally {
        // The mounts keep their own reference to the maps: the holders can go.
        for (const h of holders.values()) await h.release();
      }
    },
    async writeMaps(pid, maps) {
      writeNamespaceMaps(pid, maps, 'allow');
    },
    close() {
      /* holds nothing between steps */
    },
  };
}

/**
 * The port startContainer uses when it is given none. container/ cannot
 * reach the broker (the broker's port lives above it, in src/broker), so
 * here only root has a default; an ordinary user gets the CLI's choice
 * through the library's top-level startContainer (src/privilege), or
 * passes a port.
 */
export function defaultPort(): PrivilegePort {
  if (process.geteuid?.() === 0) return rootPrivilegePort();
  throw new FsidmapError(
    'ERR_NOT_ROOT',
    'startContainer from fsidmap/container was given no privilege port, and without root it has none of its own',
    {
      hint: 'as an ordinary user, call startContainer/runContainer from "fsidmap" (it goes through the fsidmap broker), or pass options.port = await choosePrivilegePort()',
    },
  );
}
