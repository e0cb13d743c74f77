import { FsidmapError } from '../errors.js';

/**
 * Capability names as include/uapi/linux/capability.h numbers them. The
 * model keeps sets of names, not bitmasks: 41 bits do not fit a JS int, and
 * names are what a reason should print.
 */
export const CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
] as const;

export type Cap = (typeof CAPS)[number];
export type CapSet = ReadonlySet<Cap>;

export const CAP_NUMBER: Readonly<Record<Cap, number>> = Object.fromEntries(CAPS.map((c, i) => [c, i])) as Record<Cap, number>;

export const ALL_CAPS: CapSet = new Set(CAPS);
export const NO_CAPS: CapSet = new Set();

/**
 * CAP_FS_MASK (include/linux/capability.h): what cap_task_fix_setuid drops
 * from the effective set when the fsuid leaves root, and raises again from
 * the permitted set when it returns.
 */
export const FS_CAPS: CapSet = new Set<Cap>([
  'CAP_CHOWN',
  'CAP_MKNOD',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_LINUX_IMMUTABLE',
  'CAP_MAC_OVERRIDE',
]);

export function isCap(name: string): name is Cap {
  return (CAPS as readonly string[]).includes(name);
}

/**
 * "all", "none", or a list of names with or without the CAP_ prefix, any
 * case ("chown,dac_override"). Unknown names are an error naming the name.
 */
export function parseCaps(spec: string | readonly string[]): CapSet {
  const items = typeof spec === 'string' ? spec.split(/[,\s]+/).filter((s) => s !== '') : [...spec];
  if (items.length === 1 && items[0].toLowerCase() === 'all') return ALL_CAPS;
  if (items.length === 0 || (items.length === 1 && items[0].toLowerCase() === 'none')) return NO_CAPS;
  const out = new Set<Cap>();
  for (const raw of items) {
    const name = raw.toUpperCase().startsWith('CAP_') ? raw.toUpperCase() : `CAP_${raw.toUpperCase()}`;
    if (!isCap(name)) {
      throw new FsidmapError('ERR_CAP_UNKNOWN', `unknown capability "${raw}"`, {
        context: { capability: raw },
        hint: 'use names like CAP_CHOWN or chown (see capabilities(7)), or "all" / "none"',
      });
    }
    out.add(name);
  }
  return out;
}

export function capUnion(a: CapSet, b: CapSet): CapSet {
  return new Set([...a, ...b]);
}

export function capMinus(a: CapSet, b: CapSet): CapSet {
  return new Set([...a].filter((c) => !b.has(c)));
}

export function capIntersect(a: CapSet, b: CapSet): CapSet {
  return new Set([...a].filter((c) => b.has(c)));
}

/** "all", "none" or the names in capability order: stable text for reasons and tables. */
export function formatCaps(set: CapSet): string {
  if (set.size === CAPS.length) return 'all';
  if (set.size === 0) return 'none';
  return CAPS.filter((c) => set.has(c)).join(',');
}
