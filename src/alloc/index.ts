/**
 * The range allocator's pure core: pools of host ids, 65536-aligned slots,
 * the choice (the name's hash slot first, else uniform among all free
 * slots), exclusions, carving children, and the explanation of who holds an
 * id. No I/O: host files are read by src/alloc-host, the registry by
 * src/registry.
 */
export { IntervalSet, type Range } from './interval-set.js';
export {
  SLOT,
  ID_LIMIT,
  DEFAULT_POOL,
  SYSTEMD_CONTAINER_RANGE,
  type Pool,
  parsePool,
  poolOf,
  checkSize,
  samePools,
  alignUp,
  alignDown,
  slotBounds,
  gridOffset,
} from './pool.js';
export { RESERVED_RANGES, type ReservedRange, reservedSet, reservedRangeOf } from './reserved.js';
export { type RandomSource, cryptoRandom, seededRandom } from './random.js';
export { SlotMap, SLOT_COUNT } from './slot-map.js';
export { type FreeRuns, freeRuns, nthStart, candidateCount, nthPoolStart } from './free-slots.js';
export { type IdSpace, type Choice, type IdsRequest, homeIndex, homeStart, chooseRange, chooseIds } from './choose.js';
export {
  type AllocKind,
  ALLOC_KINDS,
  type Holder,
  type Allocation,
  type Draining,
  SHARED_OWNER,
  checkName,
  checkKind,
  isOnDisk,
  countOf,
} from './allocation.js';
export {
  type AllocRequest,
  type NormalizedRequest,
  DEFAULT_REALM,
  normalizeRequest,
  ownerFor,
  checkExisting,
  sameHolder,
  checkFsTarget,
  childPools,
  checkReleasable,
} from './request.js';
export { type SubidRange, type NamedId, type HostFacts, type IdSide, type WhoEntry, type WhoAnswer, explainId } from './explain.js';
export { type HolderProbe, holderState } from './holder-state.js';
export { type ExclusionOptions, type Exclusions, hostExclusions, subidPools } from './exclusions.js';
export { allocJson, fullJson, whoJson, whoText } from './json.js';
