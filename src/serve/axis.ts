/**
 * The strip's horizontal axis: where a host id sits, as a position in
 * [0, 1]. Below 65536 (root, system and regular accounts, nobody) ids are
 * few and dense with meaning, so that part gets LOW of the width on a log
 * scale; above, the rest of the width is linear in ids, i.e. in 65536-id
 * slots, where allocations live.
 *
 * The page runs these very functions: page/script.ts inlines their source
 * (Function.prototype.toString), so each one is self-contained (its
 * constants inside) and the server, the tests and the browser agree.
 */

/** Position in [0, 1] of host id `id` (0 ≤ id ≤ 2^32). */
export function axisPos(id: number): number {
  const low = 0.14;
  const lowEnd = 65536;
  const top = 4294967296;
  if (id <= 0) return 0;
  if (id >= top) return 1;
  if (id <= lowEnd) return (low * Math.log2(id + 1)) / Math.log2(lowEnd + 1);
  return low + ((1 - low) * (id - lowEnd)) / (top - lowEnd);
}

/** The host id at position `pos` (the inverse of axisPos, rounded down to an integer id). */
export function axisId(pos: number): number {
  const low = 0.14;
  const lowEnd = 65536;
  const top = 4294967296;
  if (pos <= 0) return 0;
  if (pos >= 1) return top;
  if (pos <= low) return Math.min(lowEnd, Math.max(0, Math.floor(2 ** ((pos / low) * Math.log2(lowEnd + 1)) - 1 + 1e-9)));
  return Math.min(top, Math.floor(lowEnd + ((pos - low) / (1 - low)) * (top - lowEnd) + 1e-6));
}
