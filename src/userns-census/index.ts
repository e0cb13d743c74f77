/** The host's user namespaces and the ids they map (every process, held nsfs descriptors and bind mounts). */
export {
  type Census,
  type CensusOptions,
  type Extent,
  type MappedNamespace,
  mappingOf,
  parseMapText,
  stillMapped,
  takeCensus,
} from './census.js';
export { type LedgerEntry, ledgerDir, readLedger, recordWrittenNamespace } from './ledger.js';
