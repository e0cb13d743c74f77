/**
 * Directory trees as images: read them (scanTree, readTreeEntries) and shift
 * their ownership through a map, exactly and resumably (shiftTree).
 */
export { shiftTree, type ShiftOptions, type ShiftReport } from './shift.js';
export { scanTree, type ScanOptions, type TreeScan, type TreeProgress, type TreePhase } from './scan.js';
export { readTreeEntries, entryType } from './entries.js';
export {
  planShift,
  reconcileAction,
  actionAt,
  plannedActions,
  ACTION,
  type CapabilityPolicy,
  type UnmappedPolicy,
  type UnmappedRange,
  type PlanStats,
  type ShiftAction,
  type ShiftPlan,
  type TreeColumns,
} from './plan.js';
export { type TreeEngineKind } from './engine.js';
export { DEFAULT_STATE_DIR, journalKey } from './journal.js';
export { inspectEntries, type InspectReport, type IdRange, type ImageBase } from '../ownership/inspect.js';
