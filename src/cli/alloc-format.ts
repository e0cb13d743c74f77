import { type Allocation, allocJson, fullJson, whoJson, whoText } from '../alloc/index.js';
import type { References } from '../registry/contract.js';
import type { GcResult } from '../registry/gc.js';

export { allocJson, fullJson, whoJson, whoText };

/** Map lines for the kernel: `uid_map 0 START COUNT` then `gid_map …` (and, with --fs, the fsid maps). */
export function mapLines(a: Allocation, fs: Allocation | undefined): string {
  const line = (label: string, r: { start: number; end: number }): string => `${label} 0 ${r.start} ${r.end - r.start}\n`;
  let out = line('uid_map', a.uid) + line('gid_map', a.gid);
  if (fs) out += line('fsuid_map', fs.uid) + line('fsgid_map', fs.gid);
  return out;
}

const range = (r: { start: number; end: number }): string => `${r.start}:${r.end - r.start}`;

function holderText(a: Allocation): string {
  const h = a.holder ? `pid ${a.holder.pid}@${a.holder.host}` : '-';
  return a.draining ? `${h} (draining)` : h;
}

export function listTable(list: readonly Allocation[]): string {
  const rows = [
    ['NAME', 'KIND', 'UID', 'GID', 'FS', 'OWNER', 'PARENT', 'HOLDER'],
    ...list.map((a) => [a.name, a.kind, range(a.uid), range(a.gid), a.fs ?? '-', a.owner ?? '-', a.parent ?? '-', holderText(a)]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n') + '\n';
}

export function showText(a: Allocation, refs: References): string {
  const lines = [
    `name:      ${a.name}`,
    `kind:      ${a.kind}`,
    `realm:     ${a.realm}`,
    `uid:       ${range(a.uid)}  (host ids ${a.uid.start}–${a.uid.end - 1})`,
    `gid:       ${range(a.gid)}  (host ids ${a.gid.start}–${a.gid.end - 1})`,
    `fs:        ${a.fs ?? '-'}`,
    `owner:     ${a.owner ?? '-'}`,
    `parent:    ${a.parent ?? '-'}`,
    `holder:    ${a.holder ? `pid ${a.holder.pid} (started at tick ${a.holder.startTime}) on ${a.holder.host}` : '-'}`,
    `created:   ${a.createdAt}`,
    `state:     ${a.draining ? `draining since ${a.draining.since} (released, but a user namespace on ${a.draining.machineId} still maps it)` : 'allocated'}`,
    `used by:   ${refs.users.map((u) => u.name).join(', ') || '-'}`,
    `children:  ${refs.children.map((c) => c.name).join(', ') || '-'}`,
  ];
  return lines.join('\n') + '\n';
}

export function gcText(r: GcResult, dryRun: boolean): string {
  const lines = r.released.map((a) => `${dryRun ? 'would release' : 'released'} ${a.kind} ${a.name} (holder pid ${a.holder?.pid} is gone)`);
  for (const k of r.kept) lines.push(`kept ${k.allocation.name}: ${k.reason}`);
  for (const d of r.draining) lines.push(`draining ${d.allocation.kind} ${d.allocation.name}: ${d.heldBy}`);
  for (const a of r.drained) lines.push(`${dryRun ? 'would free' : 'freed'} drained ${a.kind} ${a.name} (nothing maps it any more)`);
  if (r.elsewhere > 0) lines.push(`${r.elsewhere} allocation(s) held on other machines were not judged here`);
  if (lines.length === 0) lines.push('nothing to collect');
  return lines.join('\n') + '\n';
}
