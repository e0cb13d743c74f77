import { FsidmapError } from '../errors.js';
import type { Extent } from './extent.js';
import { IdMap } from './idmap.js';
import { ruleCode } from './error-codes.js';
import { parseMapWrite } from './parse.js';

/** uid_m_show: "%10u %10u %10u\n" per extent, in the order the kernel keeps them. */
export function formatKernel(map: IdMap | readonly Extent[]): string {
  const extents = map instanceof IdMap ? map.extents : map;
  return extents.map((e) => `${pad(e.first)} ${pad(e.lower)} ${pad(e.count)}\n`).join('');
}

/** The same lines without padding: the shortest text a map file accepts. */
export function formatCompact(map: IdMap | readonly Extent[]): string {
  const extents = map instanceof IdMap ? map.extents : map;
  return extents.map((e) => `${e.first} ${e.lower} ${e.count}\n`).join('');
}

/** util-linux's inline spec (unshare --map-users, mount X-mount.idmap): inner:outer:count[,…]. */
export function formatInline(map: IdMap | readonly Extent[]): string {
  const extents = map instanceof IdMap ? map.extents : map;
  return extents.map((e) => `${e.first}:${e.lower}:${e.count}`).join(',');
}

function pad(n: number): string {
  return String(n).padStart(10, ' ');
}

const INLINE = /^\d+:\d+:\d+(,\d+:\d+:\d+)*$/;

export function isInlineSpec(text: string): boolean {
  return INLINE.test(text.trim());
}

/**
 * Map text as a user gives it: an inline spec, or kernel map lines. Kernel
 * lines go through the kernel's own line parser (so whatever this accepts,
 * the kernel accepts line by line), except that surrounding blank space is
 * forgiven — files written by editors end in stray newlines — and the
 * one-page limit of a single write(2) is left to the code that writes: a
 * 340-line map read back from /proc is longer than a page.
 * Throws ERR_IDMAP_<RULE> naming the line and the rule.
 */
export function parseMap(text: string, what = 'map', options: { anyLines?: boolean } = {}): IdMap {
  const trimmed = text.trim();
  if (trimmed === '') {
    throw new FsidmapError('ERR_IDMAP_EMPTY', `${what} is empty`, {
      hint: 'give lines "first lower count", or an inline spec inner:outer:count[,…]',
    });
  }
  const kernelText = isInlineSpec(trimmed)
    ? trimmed
        .split(',')
        .map((t) => t.split(':').join(' '))
        .join('\n')
    : trimmed;
  const inline = kernelText !== trimmed;
  const parsed = parseMapWrite(kernelText + '\n', { enforcePageSize: false, anyLines: options.anyLines ?? false });
  if (!parsed.ok) {
    const where = parsed.line === null ? '' : inline ? ` entry ${parsed.line}` : ` line ${parsed.line}`;
    throw new FsidmapError(ruleCode(parsed.rule), `${what}${where}: ${parsed.message}`, {
      hint: parsed.hint,
      context: { line: parsed.line, rule: parsed.rule, errno: parsed.errno },
    });
  }
  return IdMap.from(parsed.extents);
}
