/** [first, lower, count] with lower in host ids. */
export type Extent = readonly [number, number, number];

/** The lines of a uid_map or gid_map (kernel text); anything else is skipped. */
export function parseMapText(text: string): Extent[] {
  const out: Extent[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/).map(Number);
    if (f.length === 3 && f.every((n) => Number.isSafeInteger(n) && n >= 0)) out.push([f[0], f[1], f[2]]);
  }
  return out;
}
