import { type Accounts, ownedIntervals, ownerView, parseSubidDb, type PasswdEntry, type SubidDb } from '../policy/index.js';
import type { OwnedIds } from './owned-ids.js';
import { mergeIntervals } from './owned-ids.js';

/**
 * The delegation facts of the host (read once per request by the adapter,
 * src/broker/host-delegation.ts) seen from one peer: its passwd entry, the
 * subordinate-id databases newuidmap would read — with the ranges the broker
 * allocated to the peer added as lines of the peer's own, so every rule of
 * the policy treats them like /etc/subuid entries — and what it owns. Pure.
 */
export interface DelegationFacts {
  readonly accounts: Accounts;
  /** The files as shadow reads them; null when missing or unusable by shadow (a symlink). */
  readonly subuidText: string | null;
  readonly subgidText: string | null;
  readonly grantAuxGroupSubids: boolean;
}

export interface AllocatedIds {
  readonly uid: { readonly start: number; readonly count: number };
  readonly gid: { readonly start: number; readonly count: number };
}

export interface PeerView {
  readonly peer: { readonly uid: number; readonly gid: number };
  readonly user: PasswdEntry | null;
  readonly accounts: Accounts;
  readonly subuid: SubidDb | null;
  readonly subgid: SubidDb | null;
  readonly grantAuxGroupSubids: boolean;
  readonly owned: OwnedIds;
}

export function peerView(facts: DelegationFacts, peer: { uid: number; gid: number }, allocations: readonly AllocatedIds[]): PeerView {
  const user = facts.accounts.getpwuid(peer.uid) ?? null;
  const withAllocations = (text: string | null, kind: 'uid' | 'gid'): SubidDb | null => {
    const extra = user ? allocations.map((a) => `${user.name}:${a[kind].start}:${a[kind].count}\n`).join('') : '';
    if (text === null && extra === '') return null;
    const base = text ?? '';
    return parseSubidDb(base === '' || base.endsWith('\n') ? base + extra : `${base}\n${extra}`);
  };
  const fileOwned = (text: string | null) =>
    user && text !== null ? ownedIntervals(ownerView(parseSubidDb(text), user.name, facts.accounts)) : [];
  const allocated = (kind: 'uid' | 'gid') => mergeIntervals(allocations.map((a) => [a[kind].start, a[kind].start + a[kind].count]));
  // newgidmap lets the subordinate gids be used only when the real gid is the passwd one (or GRANT_AUX_GROUP_SUBIDS).
  const gidsDelegated = user !== null && (peer.gid === user.gid || facts.grantAuxGroupSubids);
  return {
    peer,
    user,
    accounts: facts.accounts,
    grantAuxGroupSubids: facts.grantAuxGroupSubids,
    subuid: withAllocations(facts.subuidText, 'uid'),
    subgid: withAllocations(facts.subgidText, 'gid'),
    owned: {
      uid: { own: peer.uid, subordinate: fileOwned(facts.subuidText), allocated: allocated('uid') },
      gid: {
        own: peer.gid,
        subordinate: gidsDelegated ? fileOwned(facts.subgidText) : [],
        allocated: gidsDelegated ? allocated('gid') : [],
      },
    },
  };
}
