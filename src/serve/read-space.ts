import { statSync } from 'node:fs';
import { join } from 'node:path';
import { type HostFacts, type WhoAnswer, hostExclusions, whoJson, whoText } from '../alloc/index.js';
import { readHostFacts, whoHolds } from '../alloc-host/index.js';
import { listStates } from '../container/state.js';
import { auditHost } from '../host/delegation.js';
import { DEFAULT_PATHS } from '../host/paths.js';
import type { Registry } from '../registry/contract.js';
import { type PoolHistory, poolStats } from './pool-stats.js';
import { type AuditView, type HostParts, type RunningContainer, type Space, buildSpace, encodeHost, findingView } from './space.js';

export interface SpaceSourceOptions {
  readonly realm?: string;
  /** Read passwd, group, subuid and subgid under this directory instead of / (as `who --root`). */
  readonly root?: string;
  /** Findings of one code listed on the page (the rest are counted): the page is for reading, not for 100,000 rows. */
  readonly maxFindingsPerCode?: number;
}

type HostFile = 'passwd' | 'group' | 'subuid' | 'subgid';
const HOST_FILES: readonly HostFile[] = ['passwd', 'group', 'subuid', 'subgid'];

function statKey(path: string): string {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}`;
  } catch {
    return 'missing';
  }
}

/**
 * Everything the page shows, read from where it lives: the registry (through
 * its contract, opened read-only by the caller), the host's account and
 * subordinate-id files (the same readers as `fsidmap who` and `subid
 * audit`), and the running containers' state files. The host files are
 * read again only when their stat changes: auditing a 100,000-line
 * /etc/subuid takes most of a second.
 */
export class SpaceSource {
  readonly realm: string;
  private hostKey = '';
  private facts: HostFacts = { users: [], groups: [], subuid: [], subgid: [] };
  private audit: AuditView | undefined;
  private encoded: HostParts | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly options: SpaceSourceOptions = {},
  ) {
    this.realm = options.realm ?? 'default';
  }

  private path(file: HostFile): string {
    return this.options.root === undefined ? DEFAULT_PATHS[file] : join(this.options.root, 'etc', file);
  }

  /** The host files' facts and audit, re-read when a file changed. */
  private host(): { facts: HostFacts; audit: AuditView; encoded: HostParts } {
    const key = HOST_FILES.map((f) => statKey(this.path(f))).join('|');
    if (key !== this.hostKey || !this.audit || !this.encoded) {
      this.facts = readHostFacts(this.options.root === undefined ? {} : { root: this.options.root });
      this.audit = this.runAudit();
      this.encoded = encodeHost(this.facts);
      this.hostKey = key;
    }
    return { facts: this.facts, audit: this.audit, encoded: this.encoded };
  }

  private runAudit(): AuditView {
    const paths = { subuid: this.path('subuid'), subgid: this.path('subgid') };
    try {
      const r = auditHost({
        paths: { ...paths, passwd: this.path('passwd'), group: this.path('group') },
        maxPerCode: this.options.maxFindingsPerCode ?? 200,
      });
      return { error: null, paths, counts: r.counts, truncated: r.truncated, findings: r.findings.map(findingView) };
    } catch (e) {
      return {
        error: e instanceof Error ? e.message : String(e),
        paths,
        counts: { error: 0, warning: 0, info: 0 },
        truncated: {},
        findings: [],
      };
    }
  }

  private containers(): RunningContainer[] {
    return listStates().map((s) => ({
      name: s.name,
      pid: s.pid,
      uidMap: s.uidMap,
      gidMap: s.gidMap,
      rootfs: s.rootfs,
      startedAt: s.startedAt,
    }));
  }

  /**
   * A value that changes when anything the page shows changed: the
   * registry's change stamp, the host files' stats, the running containers.
   */
  async stamp(): Promise<string> {
    const host = HOST_FILES.map((f) => statKey(this.path(f))).join('|');
    const running = this.containers()
      .map((c) => `${c.name}@${c.pid}`)
      .join(',');
    return `${await this.registry.changeStamp()}|${host}|${running}`;
  }

  /** Reads everything once and adds the pool's state to `history`. */
  async read(history: PoolHistory, stamp: string, now = new Date()): Promise<Space> {
    const allocations = await this.registry.list({ realm: this.realm });
    const { facts, audit, encoded } = this.host();
    const pool = poolStats(allocations, hostExclusions(facts).uid);
    history.add(now.getTime(), pool);
    const info = this.registry.info;
    return buildSpace({
      stamp,
      now,
      source: { store: info.store, location: info.location, realm: this.realm, readOnly: info.readOnly },
      allocations,
      facts,
      audit,
      containers: this.containers(),
      pool,
      history: history.samples,
      host: encoded,
    });
  }

  /**
   * `fsidmap who ID`, from the same code: its text lines, and its --json
   * minus the holders' boot and machine ids (not for a page).
   */
  async who(id: number): Promise<{ lines: string[]; answer: Record<string, unknown> }> {
    const w: WhoAnswer = await whoHolds(this.registry, id, { realm: this.realm, facts: this.host().facts });
    return { lines: whoText(w).trimEnd().split('\n'), answer: pageSafeWho(whoJson(w)) };
  }
}

/** who --json with each allocation's holder reduced to pid, start time and host. */
export function pageSafeWho(json: Record<string, unknown>): Record<string, unknown> {
  const holders = (json.holders as Record<string, unknown>[]).map((h) => {
    const a = h.allocation as Record<string, unknown> | undefined;
    const holder = a?.holder as { pid: number; startTime: number; host: string } | null | undefined;
    if (!a || !holder) return h;
    return { ...h, allocation: { ...a, holder: { pid: holder.pid, startTime: holder.startTime, host: holder.host } } };
  });
  return { ...json, holders };
}
