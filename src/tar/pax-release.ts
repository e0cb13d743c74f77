import { BLOCK, TYPE, encodeHeader, headerFormat, readNumber, recomputeChecksum, writeSizeField } from './header.js';
import { type PaxRecord, encodePax } from './pax.js';

/**
 * The PAX header an entry is emitted with after its shift: the one it came
 * with, byte for byte when nothing in it changed, re-encoded (new size,
 * new checksum) when a record changed, or a new one when a new id no longer
 * fits a ustar field and the entry had none. Pure.
 */
export interface PendingPax {
  readonly header: Uint8Array;
  /** The data as read, re-emitted as is when nothing in it changes. */
  readonly data: Buffer;
  readonly records: PaxRecord[];
  /** Several PAX headers were merged into this one (they must be re-encoded). */
  merged: boolean;
}

export type PaxOutcome = 'unchanged' | 'rewritten' | 'created' | 'none';

const ZERO_PAD = new Uint8Array(BLOCK);

export function padding(n: number): Uint8Array {
  return ZERO_PAD.subarray(0, (BLOCK - (n % BLOCK)) % BLOCK);
}

/**
 * Header, data and padding to emit for the entry's PAX header. `local` is
 * what the entry's shift made of the records (null when the entry has none
 * and needs none), `entry` the entry's header (for a new header's mtime).
 */
export function renderPax(
  pax: PendingPax | null,
  local: { records: PaxRecord[]; changed: boolean } | null,
  created: boolean,
  entry: Uint8Array,
  path: string,
): { pieces: Uint8Array[]; outcome: PaxOutcome } {
  if (pax === null && !created) return { pieces: [], outcome: 'none' };
  const changed = created || (local?.changed ?? false) || (pax?.merged ?? false);
  const records = local?.records ?? pax?.records ?? [];
  const data = changed || pax === null ? encodePax(records) : pax.data;
  let header: Uint8Array;
  let outcome: PaxOutcome;
  if (pax !== null) {
    header = pax.header;
    outcome = changed ? 'rewritten' : 'unchanged';
    if (changed) {
      writeSizeField(header, data.length, headerFormat(header));
      recomputeChecksum(header);
    }
  } else {
    header = encodeHeader({
      name: paxHeaderName(path),
      typeflag: TYPE.paxLocal,
      size: data.length,
      mtime: readNumber(entry, 'mtime') ?? 0,
      format: 'ustar',
    });
    outcome = 'created';
  }
  return { pieces: [header, data, padding(data.length)], outcome };
}

/** GNU tar's default PAX header name, "%d/PaxHeaders/%f" (the header encoder cuts it to 100 bytes). */
export function paxHeaderName(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  const slash = trimmed.lastIndexOf('/');
  const dir = slash < 0 ? '.' : trimmed.slice(0, slash);
  const base = slash < 0 ? trimmed : trimmed.slice(slash + 1);
  return `${dir}/PaxHeaders/${base}`;
}
