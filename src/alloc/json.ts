import type { Allocation } from './allocation.js';
import type { WhoAnswer, WhoEntry } from './explain.js';

/**
 * The JSON shapes of `alloc`, `list` and `who --json`, and `who`'s text,
 * here (pure) so that every consumer (the CLI, fsidmap serve's search)
 * answers in the same words.
 */

/** The `alloc --json` contract: exactly these keys, in this order. */
export function allocJson(a: Allocation): Record<string, unknown> {
  return {
    name: a.name,
    kind: a.kind,
    uid: { start: a.uid.start, count: a.uid.end - a.uid.start },
    gid: { start: a.gid.start, count: a.gid.end - a.gid.start },
    fs: a.fs,
  };
}

/** `list`, `show`, `release` and `who` add what else the registry knows. */
export function fullJson(a: Allocation): Record<string, unknown> {
  return {
    ...allocJson(a),
    realm: a.realm,
    owner: a.owner,
    parent: a.parent,
    holder: a.holder,
    createdAt: a.createdAt,
    // Only while released but still mapped, so the shape of live allocations is unchanged.
    ...(a.draining ? { state: 'draining', draining: a.draining } : {}),
  };
}

export function whoJson(w: WhoAnswer): Record<string, unknown> {
  return {
    id: w.id,
    nobody: w.nobody,
    conflicts: w.conflicts,
    inContainerRange: w.inContainerRange,
    holders: w.entries.map((e) => {
      switch (e.source) {
        case 'allocation':
          return { source: 'allocation', side: e.side, offset: e.offset, allocation: fullJson(e.allocation) };
        case 'subuid':
        case 'subgid':
          return {
            source: e.source,
            side: e.side,
            owner: e.owner,
            start: e.range.start,
            count: e.range.end - e.range.start,
            offset: e.offset,
          };
        case 'user':
        case 'group':
          return { source: e.source, side: e.side, name: e.name };
        case 'reserved':
          return { source: 'reserved', start: e.range.start, count: e.range.end - e.range.start, purpose: e.purpose };
      }
    }),
  };
}

const range = (r: { start: number; end: number }): string => `${r.start}:${r.end - r.start}`;

function entryText(e: WhoEntry): string {
  switch (e.source) {
    case 'allocation': {
      const a = e.allocation;
      return `${e.side}: ${a.kind} "${a.name}" (realm ${a.realm}${a.parent ? `, inside ${a.parent}` : ''}) range ${range(a[e.side])}, id ${e.offset} inside it${a.draining ? ` (released ${a.draining.since}, draining: a user namespace still maps it)` : ''}`;
    }
    case 'subuid':
    case 'subgid':
      return `${e.side}: /etc/${e.source} range of ${e.owner} ${range(e.range)}, id ${e.offset} inside it`;
    case 'user':
      return `uid: user ${e.name} in /etc/passwd`;
    case 'group':
      return `gid: group ${e.name} in /etc/group`;
    case 'reserved':
      return `reserved: ${e.purpose} ${e.range.start}–${e.range.end - 1}`;
  }
}

export function whoText(w: WhoAnswer): string {
  const lines = [`host id ${w.id}:`];
  for (const e of w.entries) lines.push(`  ${entryText(e)}`);
  if (w.nobody) lines.push(`  nobody holds it${w.inContainerRange ? " (free, in systemd's container range: fsidmap's default pool)" : ''}`);
  for (const side of w.conflicts) lines.push(`  CONFLICT: unrelated holders share this ${side}; each can reach the other's files`);
  return lines.join('\n') + '\n';
}
