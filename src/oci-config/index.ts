/**
 * `fsidmap oci config`: the OCI runtime-spec config.json of the container
 * `fsidmap run` would start, made from run's own planning (container/), so
 * that another runtime (crun, runc) starts the same container.
 */
export { ociConfigFor, refuseInexpressible, type OciConfigOptions, type OciConfigResult } from './oci-config.js';
export { configOf, ociMappings, type ConfigParts } from './config-of.js';
export { writeFileAtomic } from './write-atomic.js';
export * from './runtime-spec.js';
