import { formatKernel } from '../../src/idmap/index.js';
import type { NewIdmapDecision } from '../../src/policy/newidmap.js';
import { type Holder, observedStage, squash, type ToolRun } from './subid-harness.js';

/**
 * One differential comparison: fsidmap's decision for a newuidmap/newgidmap
 * call against what the real binary did to a fresh user namespace. Returns
 * the differences (empty when they agree) so a test can print them all.
 */
export function compareRun(pred: NewIdmapDecision, obs: ToolRun, holder: Holder): string[] {
  const diffs: string[] = [];
  const stage = observedStage(obs);
  if (pred.allowed !== (obs.status === 0)) diffs.push(`allowed: fsidmap ${pred.allowed}, ${pred.tool} exit ${obs.status}`);
  if (pred.stage !== stage) diffs.push(`stage: fsidmap ${pred.stage}, ${pred.tool} ${stage}`);
  const predErr = (pred.stderr ?? '').trimEnd();
  if (obs.status !== 0 && predErr !== obs.stderr.trimEnd())
    diffs.push(`stderr: fsidmap ${JSON.stringify(predErr)}, ${pred.tool} ${JSON.stringify(obs.stderr.trimEnd())}`);
  const kind = pred.tool === 'newuidmap' ? 'uid' : 'gid';
  const installed = squash(holder.map(kind));
  const expected = pred.allowed && pred.installed ? squash(formatKernel(pred.installed)) : '';
  if (installed !== expected) diffs.push(`installed ${kind}_map: fsidmap ${JSON.stringify(expected)}, kernel ${JSON.stringify(installed)}`);
  if (pred.tool === 'newgidmap') {
    const sg = holder.setgroups();
    const want = pred.setgroups === 'deny' ? 'deny' : 'allow';
    if (sg !== want) diffs.push(`setgroups: fsidmap ${want}, kernel ${sg}`);
  }
  return diffs;
}

/** Counts for the report: how many cases, split by outcome. */
export class Tally {
  readonly byKey = new Map<string, number>();
  total = 0;
  add(pred: NewIdmapDecision): void {
    this.total++;
    const k = `${pred.tool} ${pred.allowed ? 'allowed' : `refused:${pred.stage}`}`;
    this.byKey.set(k, (this.byKey.get(k) ?? 0) + 1);
  }
  toString(): string {
    return `${this.total} cases (${[...this.byKey.entries()]
      .sort()
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`;
  }
}
