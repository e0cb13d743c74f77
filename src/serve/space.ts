import type { Allocation, HostFacts, SubidRange } from '../alloc/index.js';
import { RESERVED_RANGES } from '../alloc/index.js';
import type { Finding } from '../policy/audit.js';
import { type PoolSample, type PoolStats } from './pool-stats.js';

/**
 * What the page draws: the id space of one realm as the registry and the
 * host's files hold it, in a compact form. 100,000 allocations would be
 * ~25 MB as one JSON object each; as columns of base64 typed arrays plus
 * one array of names they are ~4 MB, parsed in tens of milliseconds, and
 * the page aggregates them per zoom level itself (so `report --html` works
 * with no server). Every string in here came from a file or a database that
 * someone else may write: the page only ever puts them in the DOM as text.
 */
export interface Space {
  readonly version: 1;
  readonly generatedAt: string;
  readonly stamp: string;
  readonly source: { readonly store: string; readonly location: string; readonly realm: string; readonly readOnly: boolean };
  readonly allocations: EncodedAllocations;
  readonly subuid: EncodedRanges;
  readonly subgid: EncodedRanges;
  readonly users: readonly NamedIdView[];
  readonly groups: readonly NamedIdView[];
  readonly reserved: readonly { readonly first: number; readonly last: number; readonly purpose: string }[];
  readonly pool: PoolStats;
  readonly history: readonly PoolSample[];
  readonly containers: readonly ContainerView[];
  readonly audit: AuditView;
}

export interface NamedIdView {
  readonly name: string;
  readonly id: number;
}

/** Allocations as columns; index i of every column is allocation i. Ranges as first ids and slot counts (u32 little-endian, base64). */
export interface EncodedAllocations {
  readonly count: number;
  readonly name: readonly string[];
  /** One letter per allocation: c(ontainer), i(mage), v(olume). */
  readonly kind: string;
  readonly uidFirst: string;
  readonly uidSlots: string;
  readonly gidFirst: string;
  readonly gidSlots: string;
  /** Seconds since the epoch. */
  readonly created: string;
  /** Only allocations with an owner, parent, fs target or holder: [index, owner, parent, fs, holder text]. */
  readonly extra: readonly (readonly [number, string | null, string | null, string | null, string | null])[];
}

/** /etc/subuid or /etc/subgid entries as columns: owner, first and last id (inclusive: 2^32 - 1 fits a u32, 2^32 does not), line number. */
export interface EncodedRanges {
  readonly count: number;
  readonly owner: readonly string[];
  readonly first: string;
  readonly last: string;
  readonly line: string;
}

export interface ContainerView extends RunningContainer {
  /** The registry's allocation of the same name, if any, its fs target and the fsid maps that target gives. */
  readonly allocation: string | null;
  readonly fs: string | null;
  readonly fsuidMap: string | null;
  readonly fsgidMap: string | null;
  /** Other running containers whose fsid maps point at the same image or volume. */
  readonly sharesWith: readonly string[];
}

export interface AuditView {
  /** Why the audit could not run (an unreadable passwd file, say), else null. */
  readonly error: string | null;
  readonly paths: { readonly subuid: string; readonly subgid: string };
  readonly counts: { readonly error: number; readonly warning: number; readonly info: number };
  readonly truncated: Readonly<Record<string, number>>;
  readonly findings: readonly FindingView[];
}

export interface FindingView {
  readonly severity: Finding['severity'];
  readonly code: string;
  readonly file: string | null;
  readonly lines: readonly number[];
  readonly otherLines: readonly number[];
  readonly owner: string | null;
  /** Inclusive first and last id, or null. */
  readonly range: readonly [number, number] | null;
  readonly message: string;
  readonly hint: string;
}

/** A running container as src/container/state.ts records it (the fields the page shows). */
export interface RunningContainer {
  readonly name: string;
  readonly pid: number;
  readonly uidMap: string;
  readonly gidMap: string;
  readonly rootfs: string | null;
  readonly startedAt: string;
}

export interface SpaceInput {
  readonly stamp: string;
  readonly now: Date;
  readonly source: Space['source'];
  readonly allocations: readonly Allocation[];
  readonly facts: HostFacts;
  readonly audit: AuditView;
  readonly containers: readonly RunningContainer[];
  readonly pool: PoolStats;
  readonly history: readonly PoolSample[];
  /** The host's parts encoded once per change of the files (encodeHost), so a registry change re-encodes only allocations. */
  readonly host?: HostParts;
}

/** The parts of a Space that come from /etc: they change only when the files do. */
export interface HostParts {
  readonly subuid: EncodedRanges;
  readonly subgid: EncodedRanges;
  readonly users: readonly NamedIdView[];
  readonly groups: readonly NamedIdView[];
}

export function encodeHost(facts: HostFacts): HostParts {
  return {
    subuid: encodeRanges(facts.subuid),
    subgid: encodeRanges(facts.subgid),
    users: facts.users.map((u) => ({ name: u.name, id: u.id })),
    groups: facts.groups.map((g) => ({ name: g.name, id: g.id })),
  };
}

const RESERVED_VIEW = RESERVED_RANGES.map((r) => ({ first: r.start, last: r.end - 1, purpose: r.purpose }));

export function u32Base64(values: ArrayLike<number>): string {
  const a = Uint32Array.from(values as ArrayLike<number>);
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

const KIND_LETTER = { container: 'c', image: 'i', volume: 'v' } as const;

export function encodeAllocations(list: readonly Allocation[]): EncodedAllocations {
  const n = list.length;
  const uidFirst = new Uint32Array(n);
  const uidSlots = new Uint32Array(n);
  const gidFirst = new Uint32Array(n);
  const gidSlots = new Uint32Array(n);
  const created = new Uint32Array(n);
  const extra: [number, string | null, string | null, string | null, string | null][] = [];
  let kind = '';
  list.forEach((a, i) => {
    uidFirst[i] = a.uid.start;
    uidSlots[i] = (a.uid.end - a.uid.start) / 65536;
    gidFirst[i] = a.gid.start;
    gidSlots[i] = (a.gid.end - a.gid.start) / 65536;
    created[i] = Math.max(0, Math.floor(Date.parse(a.createdAt) / 1000) || 0);
    kind += KIND_LETTER[a.kind] ?? 'c';
    // Only pid and host of a holder: boot and machine ids are not for a page (systemd calls machine-id confidential).
    const holder = a.holder ? `pid ${a.holder.pid} on ${a.holder.host}` : null;
    if (a.owner !== null || a.parent !== null || a.fs !== null || holder !== null) extra.push([i, a.owner, a.parent, a.fs, holder]);
  });
  return {
    count: n,
    name: list.map((a) => a.name),
    kind,
    uidFirst: u32Base64(uidFirst),
    uidSlots: u32Base64(uidSlots),
    gidFirst: u32Base64(gidFirst),
    gidSlots: u32Base64(gidSlots),
    created: u32Base64(created),
    extra,
  };
}

export function encodeRanges(list: readonly SubidRange[]): EncodedRanges {
  const sorted = [...list].sort((a, b) => a.start - b.start);
  return {
    count: sorted.length,
    owner: sorted.map((r) => r.owner),
    first: u32Base64(sorted.map((r) => r.start)),
    last: u32Base64(sorted.map((r) => r.end - 1)),
    line: u32Base64(sorted.map((r) => r.line ?? 0)),
  };
}

/** Each running container with what the registry says of it, and who shares its on-disk range. */
export function containerViews(running: readonly RunningContainer[], allocations: readonly Allocation[]): ContainerView[] {
  const byName = new Map(allocations.map((a) => [a.name, a]));
  const mapOf = (r: { start: number; end: number } | undefined): string | null => (r ? `0 ${r.start} ${r.end - r.start}` : null);
  const views = running.map((c) => {
    const a = byName.get(c.name);
    const target = a?.fs ? byName.get(a.fs) : undefined;
    return {
      name: c.name,
      pid: c.pid,
      uidMap: c.uidMap,
      gidMap: c.gidMap,
      rootfs: c.rootfs,
      startedAt: c.startedAt,
      allocation: a ? a.name : null,
      fs: a?.fs ?? null,
      fsuidMap: mapOf(target?.uid),
      fsgidMap: mapOf(target?.gid),
      sharesWith: [] as string[],
    };
  });
  for (const v of views) {
    if (v.fs !== null) v.sharesWith.push(...views.filter((o) => o !== v && o.fs === v.fs).map((o) => o.name));
  }
  return views.sort((a, b) => a.name.localeCompare(b.name));
}

export function findingView(f: Finding): FindingView {
  return {
    severity: f.severity,
    code: f.code,
    file: f.file,
    lines: [...f.lines],
    otherLines: [...(f.otherLines ?? [])],
    owner: f.owner,
    range: f.range ? [f.range[0], Math.min(f.range[1], 4294967296) - 1] : null,
    message: f.message,
    hint: f.hint,
  };
}

export function buildSpace(input: SpaceInput): Space {
  const host = input.host ?? encodeHost(input.facts);
  return {
    version: 1,
    generatedAt: input.now.toISOString(),
    stamp: input.stamp,
    source: input.source,
    allocations: encodeAllocations(input.allocations),
    subuid: host.subuid,
    subgid: host.subgid,
    users: host.users,
    groups: host.groups,
    reserved: RESERVED_VIEW,
    pool: input.pool,
    history: input.history,
    containers: containerViews(input.containers, input.allocations),
    audit: input.audit,
  };
}
