/**
 * PAX extended header records (POSIX.1-2001 pax, 'x' local and 'g' global):
 * "LEN KEY=VALUE\n", LEN counting the whole record in decimal including
 * itself. Keys are UTF-8; values stay bytes because SCHILY.xattr.* values are
 * raw binary (GNU tar and star write xattr bytes verbatim). Pure.
 */
export interface PaxRecord {
  readonly key: string;
  readonly value: Buffer;
}

export type PaxDecode =
  { readonly ok: true; readonly records: PaxRecord[] } | { readonly ok: false; readonly offset: number; readonly reason: string };

/**
 * Parses the data of a PAX header (exactly `size` bytes, padding excluded).
 * A trailing run of NULs is tolerated (some writers pad); anything else that
 * is not a well-formed record fails with the offset, as GNU tar does
 * ("Malformed extended header").
 */
export function decodePax(data: Uint8Array): PaxDecode {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  const records: PaxRecord[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (buf[pos] === 0) {
      for (let i = pos; i < buf.length; i++) if (buf[i] !== 0) return { ok: false, offset: i, reason: 'bytes after NUL padding' };
      break;
    }
    let i = pos;
    let len = 0;
    while (i < buf.length && buf[i] >= 0x30 && buf[i] <= 0x39 && i - pos < 12) {
      len = len * 10 + buf[i] - 0x30;
      i++;
    }
    if (i === pos || buf[i] !== 0x20) return { ok: false, offset: pos, reason: 'missing record length' };
    if (len < i - pos + 4 || pos + len > buf.length)
      return { ok: false, offset: pos, reason: `record length ${len} runs past the header data` };
    const end = pos + len;
    if (buf[end - 1] !== 0x0a) return { ok: false, offset: pos, reason: 'record does not end with a newline' };
    const eq = buf.indexOf(0x3d, i + 1);
    if (eq < 0 || eq >= end - 1) return { ok: false, offset: pos, reason: 'record has no "="' };
    const key = buf.toString('utf8', i + 1, eq);
    if (key.length === 0) return { ok: false, offset: pos, reason: 'record has an empty key' };
    records.push({ key, value: buf.subarray(eq + 1, end - 1) });
    pos = end;
  }
  return { ok: true, records };
}

/** The record's length prefix is part of the length it states: find the fixed point. */
function recordLength(keyBytes: number, valueBytes: number): number {
  const body = 1 + keyBytes + 1 + valueBytes + 1; // " " key "=" value "\n"
  let digits = String(body).length;
  while (String(body + digits).length !== digits) digits++;
  return body + digits;
}

export function encodePax(records: readonly PaxRecord[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) {
    const key = Buffer.from(r.key, 'utf8');
    const len = recordLength(key.length, r.value.length);
    parts.push(Buffer.from(`${len} `, 'latin1'), key, Buffer.from('=', 'latin1'), r.value, Buffer.from('\n', 'latin1'));
  }
  return Buffer.concat(parts);
}

export function paxRecord(key: string, value: string | Buffer): PaxRecord {
  return { key, value: typeof value === 'string' ? Buffer.from(value, 'utf8') : value };
}

/** The last record with this key (later records override earlier ones). */
export function findRecord(records: readonly PaxRecord[], key: string): PaxRecord | undefined {
  for (let i = records.length - 1; i >= 0; i--) if (records[i].key === key) return records[i];
  return undefined;
}

/**
 * A decimal id as PAX writes it. Undefined for an empty value (which in PAX
 * deletes the field) or anything that is not a plain u32.
 */
export function parsePaxId(value: Buffer): number | undefined {
  if (value.length === 0 || value.length > 10) return undefined;
  let n = 0;
  for (const c of value) {
    if (c < 0x30 || c > 0x39) return undefined;
    n = n * 10 + c - 0x30;
  }
  return n <= 0xffffffff ? n : undefined;
}

/** A decimal number, possibly fractional (mtime, size); undefined when malformed. */
export function parsePaxNumber(value: Buffer): number | undefined {
  const s = value.toString('latin1');
  return /^-?\d+(\.\d+)?$/.test(s) ? Number(s) : undefined;
}
