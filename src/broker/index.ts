/**
 * The broker: the root service that gives unprivileged users namespace maps,
 * idmapped mounts and registry ranges after the delegation policy allows
 * them, and its client. See docs/broker.md.
 */
export { BrokerClient, brokerSocket, type Answer, type HelloResult, type AllocationAnswer, type MountRequest } from './client.js';
export { startBroker, DEFAULT_AUDIT_LOG, type BrokerOptions, type RunningBroker } from './broker.js';
export { brokerDependencies } from './wiring.js';
export { DEFAULT_SOCKET } from './listen.js';
export { parseLimits, limitsFor, DEFAULT_LIMITS, type Limits, type UserLimits, type ServerLimits } from './limits.js';
export { parseRequest, PROTOCOL_VERSION, OPS, type Op, type Request } from './protocol.js';
export type { DelegationSource, RangeStore, MapHolderFactory, AllocatedRange } from './ports.js';
