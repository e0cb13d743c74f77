/**
 * The id-map language: kernel map files parsed, checked, translated and
 * combined exactly as kernel/user_namespace.c does. Pure: no I/O.
 */
export * from './extent.js';
export { IdMap, uncovered } from './idmap.js';
export { parseMapWrite, isKernelSpace, type ParseResult, type ParseRule, type ParseFailure, type ParseSuccess } from './parse.js';
export {
  checkMapWrite,
  describeVerdict,
  type MapWriteOptions,
  type MapWriteVerdict,
  type MapWriter,
  type CheckKind,
  type CheckRule,
  type PermissionRule,
} from './check.js';
export { ruleCode, isCheckRule, CHECK_RULES, IDMAP_ERROR_CODES, type IdmapRuleCode, type IdmapErrorCode } from './error-codes.js';
export { formatKernel, formatCompact, formatInline, parseMap, isInlineSpec } from './format.js';
export { compose, invert, intersect, subtract, union, restrict, normalize, identityOn, mountMap, type MountMapOptions } from './algebra.js';
export { BulkTranslator, translateIds, type Direction } from './bulk.js';
