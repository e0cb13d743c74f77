import { readFileSync } from 'node:fs';
import type { OwnedIds } from './owned-ids.js';
import { mergeIntervals, type Interval } from './owned-ids.js';
import type { HostIds } from './ports.js';

/**
 * INTERIM (until src/host and src/policy from the delegation work are on
 * main): /etc/passwd names and /etc/subuid, /etc/subgid lines
 * "owner:start:count" whose owner is the user's name or uid.
 */
export function interimHostIds(root = ''): HostIds {
  const names = (): Map<number, string> => {
    const m = new Map<number, string>();
    for (const line of read(`${root}/etc/passwd`).split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && /^\d+$/.test(f[2]) && !m.has(Number(f[2]))) m.set(Number(f[2]), f[0]);
    }
    return m;
  };
  const ranges = (file: string, user: string | null, uid: number): Interval[] => {
    const out: Interval[] = [];
    for (const line of read(file).split('\n')) {
      const f = line.trim().split(':');
      if (f.length !== 3 || !/^\d+$/.test(f[1]) || !/^\d+$/.test(f[2])) continue;
      if (f[0] !== user && f[0] !== String(uid)) continue;
      out.push([Number(f[1]), Number(f[1]) + Number(f[2])]);
    }
    return mergeIntervals(out);
  };
  return {
    userName: (uid) => names().get(uid) ?? null,
    hostOwned(peer): OwnedIds {
      return {
        uid: { own: peer.uid, subordinate: ranges(`${root}/etc/subuid`, peer.user, peer.uid), allocated: [] },
        gid: { own: peer.gid, subordinate: ranges(`${root}/etc/subgid`, peer.user, peer.uid), allocated: [] },
      };
    },
  };
}

function read(path: string): string {
  try { return readFileSync(path, 'latin1'); } catch { return ''; }
}
