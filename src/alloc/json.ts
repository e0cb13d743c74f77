import type { Allocation } from './allocation.js';
import type { WhoAnswer } from './explain.js';

/**
 * The JSON shapes of `alloc`, `list` and `who --json`, here (pure) so that
 * every consumer (the CLI, fsidmap serve's search) answers in the same shape.
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
  return { ...allocJson(a), realm: a.realm, owner: a.owner, parent: a.parent, holder: a.holder, createdAt: a.createdAt };
}

export function whoJson(w: WhoAnswer): Record<string, unknown> {
  return {
    id: w.id,
    nobody: w.nobody,
    conflicts: w.conflicts,
    inContainerRange: w.inContainerRange,
    holders: w.entries.map((e) => {
      switch (e.source) {
        case 'allocation': return { source: 'allocation', side: e.side, offset: e.offset, allocation: fullJson(e.allocation) };
        case 'subuid':
        case 'subgid': return { source: e.source, side: e.side, owner: e.owner, start: e.range.start, count: e.range.end - e.range.start, offset: e.offset };
        case 'user':
        case 'group': return { source: e.source, side: e.side, name: e.name };
        case 'reserved': return { source: 'reserved', start: e.range.start, count: e.range.end - e.range.start, purpose: e.purpose };
      }
    }),
  };
}
