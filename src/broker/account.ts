import { type Accounts, parseSubidDb } from '../policy/index.js';
import type { DelegationFacts } from './peer-view.js';

/**
 * Whom a peer counts as, for every limit (connections, requests, namespaces,
 * allocations, ids, quarantined descriptors, audit volume). A user can
 * become any of its subordinate uids inside its own namespace (setresuid)
 * and connect as each: were each a fresh user, limits would multiply by the
 * size of the range. So a peer whose uid lies in someone's /etc/subuid
 * range, or in a range the broker allocated to someone, counts as that
 * owner; a peer that is nobody's (no passwd entry, in no range) counts as
 * the one shared "stranger", with the smallest limits. Pure.
 */
export interface Account {
  /** The key limits are counted under: "uid:N" of the owner, or "stranger". */
  readonly key: string;
  /** The owner's uid and passwd name (whose limits apply); null for the stranger. */
  readonly uid: number | null;
  readonly user: string | null;
  readonly via: 'own' | 'subordinate' | 'allocated' | 'stranger';
}

/** A broker allocation's uid range and the uid of its owner. */
export interface OwnedRange {
  readonly owner: number;
  readonly start: number;
  readonly count: number;
}

export const STRANGER: Account = { key: 'stranger', uid: null, user: null, via: 'stranger' };

function subuidOwner(owner: string, accounts: Accounts): number | null {
  const pw = accounts.getpwnam(owner);
  if (pw) return pw.uid;
  return /^\d+$/.test(owner) ? Number(owner) : null;
}

/** The account uid counts as: the owner of the range it lies in, followed up (a subordinate's own range counts as its owner's too). */
export function accountOf(uid: number, facts: DelegationFacts, allocated: readonly OwnedRange[]): Account {
  let a = directAccount(uid, facts, allocated);
  for (let hops = 0; hops < 8 && a.uid !== null && a.via !== 'own'; hops++) {
    const up = directAccount(a.uid, facts, allocated);
    if (up.uid === null || up.via === 'own') break;
    a = { ...up, via: a.via };
  }
  return a;
}

function directAccount(uid: number, facts: DelegationFacts, allocated: readonly OwnedRange[]): Account {
  const own = (ownerUid: number, via: Account['via']): Account => ({
    key: `uid:${ownerUid}`,
    uid: ownerUid,
    user: facts.accounts.getpwuid(ownerUid)?.name ?? null,
    via,
  });
  if (facts.subuidText !== null) {
    for (const line of parseSubidDb(facts.subuidText).lines) {
      const r = line.range;
      if (!r || BigInt(uid) < r.start || BigInt(uid) >= r.start + r.count) continue;
      const owner = subuidOwner(r.owner, facts.accounts);
      if (owner !== null && owner !== uid) return own(owner, 'subordinate');
    }
  }
  for (const a of allocated) if (uid >= a.start && uid < a.start + a.count && a.owner !== uid) return own(a.owner, 'allocated');
  if (facts.accounts.getpwuid(uid)) return own(uid, 'own');
  return STRANGER;
}

/** "uid 1000" or "uid 100005 (counted as uid:1000, whose subordinate it is)". */
export function describeAccount(peer: { readonly uid: number; readonly account: Account }): string {
  const a = peer.account;
  if (a.via === 'own') return `uid ${peer.uid}`;
  if (a.via === 'stranger') return `uid ${peer.uid} (nobody's: no passwd entry, in no subordinate range; counted with every such peer)`;
  return `uid ${peer.uid} (counted as ${a.key}${a.user ? ` (${a.user})` : ''}, whose ${a.via === 'subordinate' ? 'subordinate range' : 'allocated range'} it lies in)`;
}
