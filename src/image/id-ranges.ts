/**
 * The owners of a layer as runs of consecutive ids with their entry counts
 * ([start, end), the house's one interval convention), for inspect and for
 * the runtime's check that a container's map covers the image. Pure.
 */
export interface OwnerRange {
  readonly start: number;
  readonly end: number;
  readonly entries: number;
}

export class IdTally {
  private readonly counts = new Map<number, number>();
  add(id: number): void {
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
  }
  ranges(): OwnerRange[] {
    return toRanges(this.counts);
  }
}

function toRanges(counts: ReadonlyMap<number, number>): OwnerRange[] {
  const out: OwnerRange[] = [];
  for (const id of [...counts.keys()].sort((a, b) => a - b)) {
    const last = out[out.length - 1];
    const n = counts.get(id)!;
    if (last && last.end === id) out[out.length - 1] = { start: last.start, end: id + 1, entries: last.entries + n };
    else out.push({ start: id, end: id + 1, entries: n });
  }
  return out;
}

/** The union of several layers' ranges, entry counts added. */
export function mergeRanges(lists: ReadonlyArray<readonly OwnerRange[]>): OwnerRange[] {
  const all = lists.flat().sort((a, b) => a.start - b.start);
  const out: OwnerRange[] = [];
  for (const r of all) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end)
      out[out.length - 1] = { start: last.start, end: Math.max(last.end, r.end), entries: last.entries + r.entries };
    else out.push({ ...r });
  }
  return out;
}
