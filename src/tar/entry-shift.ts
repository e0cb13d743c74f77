import { F, type HeaderFormat, clearField, writeIdField } from './header.js';
import type { IdKind, IdShifter } from './id-shift.js';
import { decodeNumeric, encodeBase256, encodeOctal } from './large-numbers.js';
import { type PaxRecord, findRecord, paxRecord, parsePaxId } from './pax.js';
import { type PaxIdRecord, shiftPaxRecords } from './pax-shift.js';
import type { WarningSink } from './warnings.js';

/**
 * The shift of one real entry: its header block (patched in place) and the
 * local PAX records that precede it. Which value is the entry's id follows
 * POSIX precedence — local 'x' record, else global 'g' record, else the
 * header field — and the new id is written where the old one was. A new id
 * that no longer fits the 7-digit octal field goes where GNU tar would put
 * it: base-256 in a GNU header, a PAX record (created if the entry had no
 * PAX header) otherwise. Pure.
 */
export interface EntryShiftInput {
  /** The 512-byte header, modified in place. */
  readonly block: Uint8Array;
  readonly format: HeaderFormat;
  /** Read only for messages (a getter on the input's class lets the caller decode the name only then; see LazyPath). */
  readonly path: string;
  readonly offset: number;
  /** Records of the entry's own PAX header, or null when it has none. */
  readonly local: readonly PaxRecord[] | null;
  /** Whether the global PAX state currently sets the uid/gid. */
  readonly globalIds: { readonly uid: boolean; readonly gid: boolean };
}

export interface EntryShiftResult {
  /** True when a byte of the header changed (the caller recomputes the checksum). */
  readonly headerChanged: boolean;
  /**
   * The PAX records to write before the header: null when the entry needs
   * none; `changed` false when they are byte-for-byte the input's.
   */
  readonly local: { readonly records: PaxRecord[]; readonly changed: boolean } | null;
  /** A PAX header had to be created (an id too large for a ustar field). */
  readonly createdPax: boolean;
}

export interface EntryShiftContext {
  readonly shifter: IdShifter;
  readonly warn: WarningSink;
}

/**
 * Where the ids of one entry were found, naming its path only when read:
 * decoding every entry's name was a tenth of a shift's time, and only
 * messages read it. A class, so the getter lives on the prototype (a getter
 * in each object literal made every one of them slow to create and read).
 */
class EntrySite {
  constructor(
    private readonly input: EntryShiftInput,
    readonly where: 'header',
  ) {}
  get path(): string {
    return this.input.path;
  }
}

class EntryPaxContext {
  readonly scope = 'local' as const;
  constructor(
    private readonly input: EntryShiftInput,
    readonly shifter: IdShifter,
    readonly warn: WarningSink,
    readonly offset: number,
  ) {}
  get path(): string {
    return this.input.path;
  }
}

export function shiftEntry(input: EntryShiftInput, ctx: EntryShiftContext): EntryShiftResult {
  const { block, format } = input;
  const { shifter } = ctx;
  const paxIn = input.local === null ? null : shiftPaxRecords(input.local, new EntryPaxContext(input, shifter, ctx.warn, input.offset));
  let records: PaxRecord[] | null = paxIn ? paxIn.records : null;
  let paxChanged = paxIn?.changed ?? false;
  let createdPax = false;
  let headerChanged = false;

  for (const kind of ['uid', 'gid'] as const) {
    const [off, len] = F[kind];
    const field = decodeNumeric(block, off, len);
    const fieldValue = field.ok ? field.value : undefined;
    const paxState: PaxIdRecord = paxIn ? paxIn.ids[kind] : 'none';
    if (paxState === 'set') {
      // The record holds the id and was shifted; mirror it in the field as GNU tar does (the id if it fits, else 0).
      const id = parsePaxId(findRecord(records!, kind)!.value);
      if (id !== undefined)
        headerChanged = writeIfDifferent(block, kind, fieldValue, fitsField(id, format) ? id : 0, format) || headerChanged;
      continue;
    }
    if (paxState === 'none' && input.globalIds[kind]) {
      // A global record overrides the field; readers ignore it, so move it only where the map says how.
      if (fieldValue !== undefined) {
        const to = shifter.tryShift(kind, fieldValue);
        if (to !== undefined && fitsField(to, format))
          headerChanged = writeIfDifferent(block, kind, fieldValue, to, format) || headerChanged;
      }
      continue;
    }
    if (fieldValue === undefined) continue; // decodeHeader already refused such headers
    const to = shifter.shift(kind, fieldValue, new EntrySite(input, 'header'));
    if (to === fieldValue) continue;
    const wrote = writeIdField(block, kind, to, format);
    headerChanged = true;
    if (wrote === 'needs-pax') {
      records ??= [];
      records.push(paxRecord(kind, String(to)));
      paxChanged = true;
      if (paxIn === null) createdPax = true;
    }
  }

  if (shifter.names === 'clear') {
    for (const f of ['uname', 'gname'] as const) {
      const [off, len] = F[f];
      if (format !== 'v7' && !allZero(block, off, off + len)) {
        clearField(block, f);
        headerChanged = true;
      }
    }
  }
  return { headerChanged, local: records === null ? null : { records, changed: paxChanged }, createdPax };
}

function fitsField(id: number, format: HeaderFormat): boolean {
  return id <= 0o7777777 || format === 'gnu';
}

function writeIfDifferent(block: Uint8Array, kind: IdKind, current: number | undefined, to: number, format: HeaderFormat): boolean {
  if (current === to) return false;
  const [off, len] = F[kind];
  if (!encodeOctal(block, off, len, to) && !(format === 'gnu' && encodeBase256(block, off, len, to))) return false;
  return true;
}

function allZero(block: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (block[i] !== 0) return false;
  return true;
}
