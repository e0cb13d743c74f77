import { randomInt } from 'node:crypto';

/**
 * Where the allocator's randomness comes from. Injectable so tests can fix a
 * seed and check the distribution; production uses the kernel's CSPRNG so
 * ranges cannot be predicted from earlier ones.
 */
export interface RandomSource {
  /** A uniformly distributed integer in [0, n); n is a positive integer ≤ 2^32. */
  below(n: number): number;
}

function checkBound(n: number): void {
  if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) throw new RangeError(`random bound ${n} is not an integer in [1, 2^32]`);
}

/** node:crypto's randomInt (getrandom(2) underneath), unbiased. */
export const cryptoRandom: RandomSource = {
  below(n: number): number {
    checkBound(n);
    return n === 1 ? 0 : randomInt(n);
  },
};

/**
 * xoshiro128** (Blackman & Vigna), seeded through splitmix32: a small,
 * well-tested generator whose sequence is fixed for a seed, so statistical
 * tests are reproducible. Not for production choices.
 */
export function seededRandom(seed: number): RandomSource {
  let x = seed >>> 0;
  const splitmix = (): number => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  const s = [splitmix(), splitmix(), splitmix(), splitmix()];
  const rotl = (v: number, k: number): number => ((v << k) | (v >>> (32 - k))) >>> 0;
  const next = (): number => {
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    for (let i = 0; i < 4; i++) s[i] >>>= 0;
    return result;
  };
  return {
    below(n: number): number {
      checkBound(n);
      // Rejection sampling: drop the top partial block of the u32 range so
      // every residue is equally likely (no modulo bias).
      const limit = Math.floor(0x100000000 / n) * n;
      for (;;) {
        const u = next();
        if (u < limit) return u % n;
      }
    },
  };
}
