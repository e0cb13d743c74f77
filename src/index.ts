/** fsidmap's library API. Subpaths (fsidmap/idmap, …) give each part on its own. */
export * from './idmap/index.js';
export { FsidmapError, UsageError, isFsidmapError } from './errors.js';
export { shiftTree, readTreeEntries, inspectEntries, type ShiftOptions, type ShiftReport, type InspectReport } from './tree/index.js';
export {
  shiftTarStream,
  shiftTarFd,
  unpackTar,
  readTarEntries,
  type ShiftTarOptions,
  type TarShiftResult,
  type UnpackOptions,
  type UnpackResult,
} from './tar-io/index.js';
