/**
 * Generators of map writes for the differential tests: valid maps of every
 * size, and each way a write can be malformed. Seeded, so a failure can be
 * replayed with the same FSIDMAP_SEED.
 */
import { int, pick, type Rng, shuffle } from './rng.js';

export { int, pick, rng, shuffle, type Rng } from './rng.js';

export interface Line {
  first: number;
  lower: number;
  count: number;
}

/** Non-overlapping lines in both columns, laid out with random gaps, in random written order. */
export function validLines(r: Rng, n: number, spread: 'tight' | 'wide' | 'huge' = 'wide'): Line[] {
  const maxGap = spread === 'tight' ? 3 : spread === 'wide' ? 1 << 16 : Math.floor(4e9 / Math.max(n, 1) / 4);
  const maxCount = spread === 'tight' ? 4 : spread === 'wide' ? 1 << 16 : Math.floor(4e9 / Math.max(n, 1) / 4);
  const counts = Array.from({ length: n }, () => int(r, 1, maxCount));
  const firsts: number[] = [];
  let at = int(r, 0, maxGap);
  for (const c of counts) {
    firsts.push(at);
    at += c + int(r, 0, maxGap);
  }
  const order = shuffle(
    r,
    counts.map((_, i) => i),
  );
  const lowers: number[] = new Array(n);
  at = int(r, 0, maxGap);
  for (const i of order) {
    lowers[i] = at;
    at += counts[i] + int(r, 0, maxGap);
  }
  return shuffle(
    r,
    counts.map((count, i) => ({ first: firsts[i], lower: lowers[i], count })),
  );
}

export function text(lines: readonly Line[], sep = ' ', trailingNewline = true): string {
  return lines.map((l) => `${l.first}${sep}${l.lower}${sep}${l.count}`).join('\n') + (trailingNewline ? '\n' : '');
}

const enc = (s: string) => Buffer.from(s, 'latin1');

/** One malformed (or borderline) write, with a label saying which kind. */
export function malformed(r: Rng): { label: string; bytes: Uint8Array } {
  const base = validLines(r, int(r, 1, 8), pick(r, ['tight', 'wide'] as const));
  const kinds = [
    'overlap-upper',
    'overlap-lower',
    'wrap-upper',
    'wrap-lower',
    'minus-one',
    'count-zero',
    'junk-byte',
    'extra-field',
    'missing-field',
    'blank-line',
    'double-newline',
    'no-newline',
    'whitespace-variety',
    'nbsp',
    'nul',
    'leading-zeros',
    'big-number',
    'sign',
    'hex',
    'lines-340',
    'lines-341',
    'long-line',
    'page-4095',
    'page-4096',
    'empty',
    'adjacent',
    'duplicate',
    'crlf',
    'edge-ids',
  ] as const;
  const kind = pick(r, kinds);
  const t = text(base);
  switch (kind) {
    case 'overlap-upper': {
      const b = pick(r, base);
      return { label: kind, bytes: enc(t + `${b.first + int(r, 0, b.count - 1)} ${4000000000 + int(r, 0, 1000)} ${int(r, 1, 5)}\n`) };
    }
    case 'overlap-lower': {
      const b = pick(r, base);
      return { label: kind, bytes: enc(t + `${4000000000 + int(r, 0, 1000)} ${b.lower + int(r, 0, b.count - 1)} ${int(r, 1, 5)}\n`) };
    }
    case 'wrap-upper':
      return { label: kind, bytes: enc(`${int(r, 4294967000, 4294967294)} 5 ${int(r, 1, 2000)}\n`) };
    case 'wrap-lower':
      return { label: kind, bytes: enc(`5 ${int(r, 4294967000, 4294967294)} ${int(r, 1, 2000)}\n`) };
    case 'minus-one':
      return { label: kind, bytes: enc(r() < 0.5 ? `4294967295 0 1\n` : `0 4294967295 1\n`) };
    case 'count-zero':
      return { label: kind, bytes: enc(t + `4100000000 4100000000 0\n`) };
    case 'junk-byte': {
      const s = t.split('');
      s.splice(int(r, 0, s.length - 1), 0, pick(r, ['x', ',', ':', '-', '+', '.', '#', '\u0001', '\u007f', '\u00ff']));
      return { label: kind, bytes: enc(s.join('')) };
    }
    case 'extra-field':
      return { label: kind, bytes: enc(t.replace(/\n$/, ` ${int(r, 0, 9)}\n`)) };
    case 'missing-field':
      return { label: kind, bytes: enc(t.replace(/ \d+\n$/, '\n')) };
    case 'blank-line':
      return { label: kind, bytes: enc(t.replace('\n', '\n\n')) };
    case 'double-newline':
      return { label: kind, bytes: enc(t + '\n') };
    case 'no-newline':
      return { label: kind, bytes: enc(t.replace(/\n$/, '')) };
    case 'whitespace-variety':
      return {
        label: kind,
        bytes: enc(
          base
            .map(
              (l) =>
                `${pick(r, ['', ' ', '\t', ' \v'])}${l.first}${pick(r, [' ', '\t', '\f', '  \r'])}${l.lower}${pick(r, [' ', '\t '])}${l.count}${pick(r, ['', ' ', '\t', '\r', ' \f'])}`,
            )
            .join('\n') + '\n',
        ),
      };
    case 'nbsp':
      return {
        label: kind,
        bytes: Buffer.concat([enc(`${base[0].first}`), Buffer.from([0xa0]), enc(`${base[0].lower} ${base[0].count}\n`)]),
      };
    case 'nul': {
      const s = enc(t);
      const at = int(r, 0, s.length);
      return { label: kind, bytes: Buffer.concat([s.subarray(0, at), Buffer.from([0]), enc('garbage 1 2 3\n')]) };
    }
    case 'leading-zeros':
      return { label: kind, bytes: enc(base.map((l) => `00${l.first} 0${l.lower} 000${l.count}`).join('\n') + '\n') };
    case 'big-number': {
      // Values past 2^32 (and past 2^64) are stored modulo 2^32 by the kernel.
      const big = pick(r, [
        '4294967296',
        '4294967297',
        '8589934592',
        '18446744073709551616',
        '18446744073709551617',
        '99999999999999999999999',
      ]);
      return { label: kind, bytes: enc(`${big} ${int(r, 0, 100)} ${int(r, 1, 10)}\n`) };
    }
    case 'sign':
      return { label: kind, bytes: enc(`${pick(r, ['-', '+'])}${base[0].first} ${base[0].lower} ${base[0].count}\n`) };
    case 'hex':
      return { label: kind, bytes: enc(`0x${base[0].first.toString(16)} ${base[0].lower} ${base[0].count}\n`) };
    case 'lines-340':
      return { label: kind, bytes: enc(text(validLines(r, 340, 'tight'))) };
    case 'lines-341':
      return { label: kind, bytes: enc(text(validLines(r, 341, 'tight'))) };
    case 'long-line':
      return { label: kind, bytes: enc(`${base[0].first} ${base[0].lower} ${base[0].count}${' '.repeat(int(r, 4000, 4200))}\n`) };
    case 'page-4095': {
      const s = `${base[0].first} ${base[0].lower} ${base[0].count}`;
      return { label: kind, bytes: enc(s + ' '.repeat(4095 - s.length)) };
    }
    case 'page-4096': {
      const s = `${base[0].first} ${base[0].lower} ${base[0].count}`;
      return { label: kind, bytes: enc(s + ' '.repeat(4096 - s.length)) };
    }
    case 'empty':
      return { label: kind, bytes: enc(pick(r, ['', '\n', ' \n', '\t'])) };
    case 'adjacent': {
      const b = base[0];
      return { label: kind, bytes: enc(`${b.first} ${b.lower} ${b.count}\n${b.first + b.count} ${b.lower + b.count} ${int(r, 1, 9)}\n`) };
    }
    case 'duplicate':
      return { label: kind, bytes: enc(t + text([base[0]])) };
    case 'crlf':
      return { label: kind, bytes: enc(t.replace(/\n/g, '\r\n')) };
    case 'edge-ids':
      return {
        label: kind,
        bytes: enc(
          pick(r, [
            '0 0 4294967295\n',
            '4294967294 4294967294 1\n',
            '4294967294 0 1\n',
            '0 4294967294 1\n',
            '1 1 4294967294\n',
            '1 1 4294967293\n',
          ]),
        ),
      };
  }
}
