import type { ScenarioReport, StepReport } from './runner.js';

/**
 * The text table `fsidmap simulate` prints: one row per step (number, process,
 * operation, target, result, expectation with ✓/✗, reason), then a summary
 * line. With `trace`, every rule consulted is listed under its step.
 */
export function formatReport(r: ScenarioReport, options: { trace?: boolean } = {}): string {
  const head = ['#', 'as', 'op', 'target', 'result', 'expected', 'reason'];
  const rows = r.steps.map((s) => [String(s.index), s.as, s.op, s.target, s.result, expectedCell(s), s.reason]);
  const widths = head.slice(0, -1).map((h, i) => Math.min(36, Math.max(h.length, ...rows.map((row) => row[i].length))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < widths.length ? c.padEnd(widths[i]) : c))
      .join('  ')
      .trimEnd();
  const out: string[] = [`${r.name} (semantics ${r.semantics})`];
  if (r.description) out.push(...wrap(r.description, 100).map((l) => `  ${l}`));
  out.push('', line(head));
  r.steps.forEach((s, i) => {
    out.push(line(rows[i]));
    if (s.note) out.push(`${' '.repeat(widths[0] + 2)}note: ${s.note}`);
    if (s.mismatch) out.push(`${' '.repeat(widths[0] + 2)}MISMATCH: ${s.mismatch}`);
    if (options.trace) for (const t of s.trace) out.push(`${' '.repeat(widths[0] + 2)}${t.verdict.padEnd(5)} ${t.rule}: ${t.detail}`);
  });
  const expected = r.steps.filter((s) => s.match !== null).length;
  out.push(
    '',
    r.ok
      ? `ok: ${expected} expectation${expected === 1 ? '' : 's'} met, ${r.steps.length} step${r.steps.length === 1 ? '' : 's'}`
      : `FAILED: ${r.mismatches} of ${expected} expectation${expected === 1 ? '' : 's'} not met`,
  );
  return out.join('\n') + '\n';
}

function expectedCell(s: StepReport): string {
  if (s.expected === null) return '';
  return `${s.match ? '✓' : '✗'} ${s.expected}`;
}

function wrap(text: string, width: number): string[] {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let cur = '';
  for (const w of words) {
    if (cur && cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines;
}
