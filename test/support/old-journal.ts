import type { JournalHeader } from '../../src/tree/journal-codec.js';
import { buildPathTable, pathListAt } from '../../src/tree/path-table.js';
import type { ShiftPlan } from '../../src/tree/plan.js';

const XATTR_KEYS = ['aclAccess', 'aclDefault', 'capability'] as const;

/**
 * A journal in an older layout (versions 2–4, as written before version 5):
 * whole paths, and no dev column before version 4. Kept here so the tests
 * can make the files older releases left behind.
 */
export function encodeOldJournal(version: 2 | 3 | 4, h: JournalHeader, plan: ShiftPlan): Buffer {
  const n = plan.flags.length;
  const table = buildPathTable(Array.from({ length: n }, (_, i) => pathListAt(plan.paths, i)));
  const head = Buffer.from(JSON.stringify(h), 'utf8');
  const u32le = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  };
  const col = (c: Float64Array | Uint32Array | Uint8Array) => Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  const values: Buffer[] = [];
  let count = 0;
  for (const [i, a] of plan.after) {
    const b = plan.before.get(i) ?? {};
    XATTR_KEYS.forEach((key, k) =>
      [b[key], a[key]].forEach((v, side) => {
        if (!v) return;
        const rec = Buffer.alloc(9);
        rec.writeUInt32LE(i, 0);
        rec[4] = 2 * k + side;
        rec.writeUInt32LE(v.length, 5);
        values.push(rec, Buffer.from(v));
        count++;
      }),
    );
  }
  return Buffer.concat([
    Buffer.from(`FSIDMAP-SHIFT-JOURNAL ${version}\n`, 'latin1'),
    u32le(head.length),
    head,
    u32le(n),
    u32le(table.offsets[n]),
    Buffer.from(table.bytes),
    col(plan.ino),
    ...(version === 4 ? [col(plan.dev)] : []),
    ...[plan.mode, plan.uid, plan.gid, plan.newUid, plan.newGid, plan.flags].map(col),
    u32le(count),
    ...values,
  ]);
}
