import fc from 'fast-check';
import { IdMap } from './idmap.js';

/**
 * fast-check arbitraries for valid maps (no overlap in either column, no
 * wrap), mixing tiny numbers (so extents touch and collide often) with
 * spread-out ones. Test support only.
 */
export function arbMap(maxExtents = 20, options: { minExtents?: number; small?: boolean } = {}): fc.Arbitrary<IdMap> {
  const small = options.small ?? false;
  const gap = small ? fc.integer({ min: 0, max: 3 }) : fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 1 << 22 }));
  const count = small ? fc.integer({ min: 1, max: 5 }) : fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 1 << 20 }));
  return fc
    .array(fc.record({ gapU: gap, gapL: gap, count, key: fc.double({ min: 0, max: 1, noNaN: true }) }), {
      minLength: options.minExtents ?? 0,
      maxLength: maxExtents,
    })
    .map((blocks) => {
      let at = 0;
      const firsts = blocks.map((b) => {
        at += b.gapU;
        const f = at;
        at += b.count;
        return f;
      });
      const order = blocks.map((_, i) => i).sort((a, b) => blocks[a].key - blocks[b].key);
      const lowers = new Array<number>(blocks.length);
      at = 0;
      for (const i of order) {
        at += blocks[i].gapL;
        lowers[i] = at;
        at += blocks[i].count;
      }
      return IdMap.from(blocks.map((b, i) => ({ first: firsts[i], lower: lowers[i], count: b.count })));
    });
}

/** Ids that hit maps from arbMap often: small ones, extent edges, and anything. */
export function arbId(): fc.Arbitrary<number> {
  return fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 1 << 24 }), fc.nat(4294967295));
}
