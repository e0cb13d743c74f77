import type { NamedId, SubidRange } from '../alloc/index.js';

/**
 * Minimal readers of the host's id databases, enough for the allocator to
 * keep clear of them and for `who` to name them. (The delegation work keeps
 * a full, writing implementation of /etc/subuid in src/host; this one only
 * reads, and is tolerant the way shadow is: a line that does not parse is
 * skipped, never fatal.)
 */

/** name:password:ID:… lines of /etc/passwd (ID is field 3) or /etc/group (also field 3). */
export function parseIdFile(text: string): NamedId[] {
  const out: NamedId[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const f = line.split(':');
    if (f.length < 4 || f[0] === '' || !/^\d+$/.test(f[2])) continue;
    const id = Number(f[2]);
    if (id > 4294967295) continue;
    out.push({ name: f[0], id });
  }
  return out;
}

/**
 * owner:start:count lines of /etc/subuid and /etc/subgid, as shadow's
 * subordinate_parse accepts them: three non-empty fields, start and count
 * decimal, count ≥ 1, start + count ≤ 2^32. Others are skipped.
 */
export function parseSubidFile(text: string): SubidRange[] {
  const out: SubidRange[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length !== 3 || f.some((x) => x === '') || !/^\d+$/.test(f[1]) || !/^\d+$/.test(f[2])) continue;
    const start = Number(f[1]);
    const count = Number(f[2]);
    if (count < 1 || start + count > 4294967296) continue;
    out.push({ owner: f[0], start, end: start + count });
  }
  return out;
}
