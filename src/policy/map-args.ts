import { getulong, UINT_MAX, ULONG_MAX } from './shadow-number.js';

/**
 * newuidmap's argument parsing (libmisc/idmapping.c get_map_ranges), with
 * main's `ranges = ((argc - 2) + 2) / 3`: the arguments after the pid must
 * come in threes; each number goes through getulong (so hex, octal, signs and
 * leading blanks are accepted); then, mapping by mapping, the 64-bit overflow
 * checks: upper + count and lower + count must stay within UINT_MAX.
 * A number that does not parse makes newuidmap print its usage; an overflow
 * prints "subuid overflow detected." Both exit 1 before anything is checked
 * against /etc/subuid.
 */

/** One mapping as newuidmap holds it (struct map_range): upper = first id inside, lower = first id outside. */
export interface MapRange {
  readonly upper: bigint;
  readonly lower: bigint;
  readonly count: bigint;
}

export type MapArgsRule = 'argument-count' | 'bad-number' | 'overflow';

export type MapArgsResult =
  | { readonly ok: true; readonly ranges: readonly MapRange[] }
  | {
      readonly ok: false;
      readonly rule: MapArgsRule;
      /** 0-based index of the mapping (triple) at fault, null for the count rule. */
      readonly mapping: number | null;
      /** 0-based index of the offending argument after the pid, when one is. */
      readonly argument: number | null;
      readonly message: string;
      /** What the tool itself prints on stderr (without the "newuidmap: " prefix where it has one). */
      readonly stderr: string;
    };

const FIELD = ['upper (first id inside)', 'lower (first id outside)', 'count'];

export function parseMapArgs(args: readonly string[], tool: 'newuidmap' | 'newgidmap' = 'newuidmap'): MapArgsResult {
  const argc = args.length;
  const ranges = Math.floor((argc + 2) / 3);
  const id = tool === 'newuidmap' ? 'uid' : 'gid';
  const usage = `usage: ${tool} <pid> <${id}> <lower${id}> <count> [ <${id}> <lower${id}> <count> ] ... `;
  if (ranges * 3 > argc) {
    return {
      ok: false,
      rule: 'argument-count',
      mapping: null,
      argument: null,
      message: `${argc} argument(s) after the pid do not form mappings of three numbers (upper lower count)`,
      stderr: `ranges: ${ranges} argc: ${argc}\n${tool}: Not enough arguments to form ${ranges} mappings\n${usage}`,
    };
  }
  const out: MapRange[] = [];
  for (let m = 0; m < ranges; m++) {
    const values: bigint[] = [];
    for (let f = 0; f < 3; f++) {
      const text = args[m * 3 + f];
      const r = getulong(text);
      if (!r.ok) {
        const why =
          r.reason === 'empty'
            ? 'is empty'
            : r.reason === 'out-of-range'
              ? 'does not fit in 64 bits'
              : r.reason === 'trailing-junk'
                ? 'has characters after the number'
                : 'is not a number';
        return {
          ok: false,
          rule: 'bad-number',
          mapping: m,
          argument: m * 3 + f,
          message: `mapping ${m + 1}: ${FIELD[f]} ${JSON.stringify(text)} ${why}`,
          stderr: usage,
        };
      }
      values.push(r.value);
    }
    const [upper, lower, count] = values;
    const overflow =
      ULONG_MAX - upper <= count ||
      ULONG_MAX - lower <= count ||
      upper > UINT_MAX ||
      lower > UINT_MAX ||
      count > UINT_MAX ||
      lower + count > UINT_MAX ||
      upper + count > UINT_MAX;
    if (overflow) {
      return {
        ok: false,
        rule: 'overflow',
        mapping: m,
        argument: null,
        message: `mapping ${m + 1} (${upper} ${lower} ${count}) runs past ${UINT_MAX}: upper + count and lower + count must be at most ${UINT_MAX}`,
        stderr: `${tool}: subuid overflow detected.`,
      };
    }
    out.push({ upper, lower, count });
  }
  return { ok: true, ranges: out };
}

/** The bytes write_mapping sends to the map file: "%lu %lu %lu\n" per mapping. */
export function mappingText(ranges: readonly MapRange[]): string {
  return ranges.map((r) => `${r.upper} ${r.lower} ${r.count}\n`).join('');
}

/** Kernel map text (or an inline spec already turned into lines) split into newuidmap arguments, as a shell would. */
export function mapTextToArgs(text: string): string[] {
  return text.split(/[ \t\n]+/).filter((t) => t !== '');
}
