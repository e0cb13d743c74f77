import { FsidmapError } from '../errors.js';
import type { Range } from './interval-set.js';

/**
 * What the registry holds. A `container` gets uid and gid ranges its user
 * namespace maps to; an `image` or `volume` is an on-disk range: the host ids
 * its files are owned by, which containers' fsid maps point at.
 */
export type AllocKind = 'container' | 'image' | 'volume';
export const ALLOC_KINDS: readonly AllocKind[] = ['container', 'image', 'volume'];

/** Who holds a container's range while it runs: enough to tell later whether it is gone. */
export interface Holder {
  readonly pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks after boot): a reused pid has another. */
  readonly startTime: number;
  /** /proc/sys/kernel/random/boot_id: after a reboot no old pid is alive. */
  readonly bootId: string;
  /** /etc/machine-id (or the host name): holders on other hosts are not judged here. */
  readonly machineId: string;
  /** Host name, for people reading `show` and `list`. */
  readonly host: string;
}

/**
 * A released range that a user namespace on the releasing machine still
 * maps: it stays in the registry, blocking its ids, until no namespace there
 * maps any of it (the registry's reap), so nobody else is handed ids another
 * user's processes may still run as.
 */
export interface Draining {
  /** When the release was asked (ISO 8601, UTC). */
  readonly since: string;
  /** The releasing machine's boot: after a reboot no namespace of before is left. */
  readonly bootId: string;
  /** Only this machine's census can say the range is free. */
  readonly machineId: string;
}

export interface Allocation {
  readonly id: number;
  readonly realm: string;
  readonly name: string;
  readonly kind: AllocKind;
  /** Tenant owning an on-disk range (or the container), "shared", or null. */
  readonly owner: string | null;
  /** The allocation this one was carved out of (nested containers), or null. */
  readonly parent: string | null;
  /** For a container: the image or volume its fsid map points at, or null. */
  readonly fs: string | null;
  readonly uid: Range;
  readonly gid: Range;
  readonly holder: Holder | null;
  /** ISO 8601, UTC. */
  readonly createdAt: string;
  /** Present while released but still mapped (see Draining). */
  readonly draining?: Draining;
}

export const SHARED_OWNER = 'shared';

/**
 * Names are what operators type and what other tools key on: a container or
 * image name, a DNS label, a path-like tenant/name. Printable, no spaces, no
 * control characters, so every output format can show them unquoted.
 */
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:@+/-]{0,254}$/;

export function checkName(name: string, what = 'name'): string {
  if (!NAME_RE.test(name)) {
    throw new FsidmapError('ERR_USAGE', `${what} "${name}" is not a valid allocation name`, {
      hint: 'use 1–255 characters from A-Z a-z 0-9 _ . : @ + / -, starting with a letter, digit or _',
      context: { name },
    });
  }
  return name;
}

export function checkKind(kind: string): AllocKind {
  if (!(ALLOC_KINDS as readonly string[]).includes(kind)) {
    throw new FsidmapError('ERR_USAGE', `kind "${kind}" is not one of ${ALLOC_KINDS.join(', ')}`, { context: { kind } });
  }
  return kind as AllocKind;
}

/** True for kinds whose range is where files live (what --fs may name). */
export function isOnDisk(kind: AllocKind): boolean {
  return kind === 'image' || kind === 'volume';
}

/** Count of ids in a range (the kernel's third map column). */
export function countOf(r: Range): number {
  return r.end - r.start;
}
