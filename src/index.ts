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
// Containers with their privileged steps chosen as the CLI chooses them (root itself, or the broker); fsidmap/container has the rest.
export { startContainer, runContainer, choosePrivilegePort, chooseRunRegistry } from './privilege/index.js';
export type { Container, PrivilegePort, RunOptions, RunSpec, StartOptions } from './container/index.js';
