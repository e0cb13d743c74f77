import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { FsidmapError } from '../errors.js';
import { type ScenarioReport, compareReports, runScenario } from './runner.js';
import { type Scenario, parseScenario } from './schema.js';
import type { FsidSemantics } from '../userns/namespace.js';

/**
 * The file side of scenarios: read a JSON file, run it, and follow its
 * sameResultsAs link (relative to the file) to check that another
 * realization of the same case gives the same results.
 */
export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FsidmapError('ERR_USAGE', `cannot read scenario ${file}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`, {
      hint: 'give the path of a scenario JSON file (the repository ships some in scenarios/)',
    });
  }
  return parseScenario(text, file);
}

export interface SimulationResult {
  readonly file: string;
  readonly report: ScenarioReport;
  readonly sameResultsAs: { readonly file: string; readonly differences: readonly string[] } | null;
  readonly ok: boolean;
}

export function simulateFile(file: string, options: { semantics?: FsidSemantics } = {}): SimulationResult {
  const scenario = loadScenario(file);
  const report = runScenario(scenario, options);
  let same: SimulationResult['sameResultsAs'] = null;
  if (scenario.sameResultsAs) {
    const other = resolve(dirname(file), scenario.sameResultsAs);
    const otherReport = runScenario(loadScenario(other));
    same = { file: other, differences: compareReports(report, otherReport) };
  }
  return { file, report, sameResultsAs: same, ok: report.ok && (same === null || same.differences.length === 0) };
}
