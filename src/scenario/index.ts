/**
 * Scenario files: declare namespaces, processes, a tree and mounts, list
 * operations with expected results, and run them through the model.
 * Pure: the CLI reads the files.
 */
export { parseScenario, readScenario, STEP_OPS, type Scenario, type StepSpec, type StepOp } from './schema.js';
export { runScenario, compareReports, type ScenarioReport, type StepReport } from './runner.js';
export { buildWorld, type World } from './setup.js';
export { formatReport } from './table.js';
