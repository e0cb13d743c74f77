/**
 * Containers on the real kernel: `run` composes the kernel adapter (and the
 * range registry for --allocate/--fs) into a running container whose rootfs
 * and volumes are idmapped mounts realising its fsid maps, and tears it all
 * down when it exits. Its privileged steps go through a PrivilegePort that
 * the caller hands in (fsidmap's own as root by default; the broker's lives
 * in src/broker, above this folder).
 */
export type { RunSpec, MapPair, IdSource, FsSource, VolumeSpec, UserSpec, ImageSpec, ImageLayer, ImageHolds } from './spec.js';
export { parseVolumeArg, parseUserArg, checkName } from './spec.js';
export { type Container, type StartOptions, type StdioChoice, startContainer } from './start.js';
export { type PrivilegePort, type MountRequest, mountEach } from './privilege-port.js';
export { rootPrivilegePort } from './root-port.js';
export { type RunOptions, runContainer } from './run.js';
export { type RangeRegistry, type RangePair, type IdRange, mapsOfRanges, openRegistry } from './ranges.js';
export { type RunPlan, type CheckedInput, planRun, checkInput, assertRoot } from './prepare.js';
export { containerEnv, containerHostname } from './stage-command.js';
export { type ContainerState, listStates, readState, runDir } from './state.js';
export { resolveInRoot, findCommand } from './in-root.js';
export { parsePasswd, parseGroup, resolveUser } from './image-users.js';
export { type ImageRunConfig, parseEnvEntry, parseEnvFile, commandOf } from './image-config.js';
export { type SavedContainer, type SavedPaths, listSaved, readSaved, savedPaths, containersDir } from './saved.js';
export { type RootView, dirView, layersView } from './root-view.js';
export { type ContainerSummary, listContainers, removeContainer, withStoppedContainer } from './containers.js';
export { type CommitOptions, type ContainerCommit, commitContainer } from './commit.js';
export { type ExecSpec, type ExecOptions, execInContainer } from './exec.js';
export { type StopResult, findRunning, logPath, signalContainer, signalNumber, stopContainer } from './lifecycle.js';
export { type PsRow, formatUptime, psRows } from './ps.js';
export { type ContainerStatus, listAllStates, removeStale, statusOf } from './state.js';
