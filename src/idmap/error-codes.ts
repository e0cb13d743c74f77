import type { CheckRule } from './check.js';

/**
 * The closed set of ERR_IDMAP_* codes. A refusal of map_write's rules gets
 * the code of its rule from ruleCode; the table is typed by CheckRule, so a
 * rule added to parse.ts or check.ts does not compile until it has a code
 * here, and no code exists that is not listed. The five others come from
 * the id-map value type and the algebra, not from a rule of map_write.
 */
const RULE_CODES = {
  'write-too-long': 'ERR_IDMAP_WRITE_TOO_LONG',
  'missing-field': 'ERR_IDMAP_MISSING_FIELD',
  junk: 'ERR_IDMAP_JUNK',
  'invalid-id': 'ERR_IDMAP_INVALID_ID',
  'count-zero': 'ERR_IDMAP_COUNT_ZERO',
  'upper-wrap': 'ERR_IDMAP_UPPER_WRAP',
  'lower-wrap': 'ERR_IDMAP_LOWER_WRAP',
  'upper-overlap': 'ERR_IDMAP_UPPER_OVERLAP',
  'lower-overlap': 'ERR_IDMAP_LOWER_OVERLAP',
  'too-many-lines': 'ERR_IDMAP_TOO_MANY_LINES',
  'already-written': 'ERR_IDMAP_ALREADY_WRITTEN',
  'needs-setfcap': 'ERR_IDMAP_NEEDS_SETFCAP',
  'not-permitted': 'ERR_IDMAP_NOT_PERMITTED',
  'setgroups-not-denied': 'ERR_IDMAP_SETGROUPS_NOT_DENIED',
  'outside-parent': 'ERR_IDMAP_OUTSIDE_PARENT',
} as const satisfies { readonly [R in CheckRule]: `ERR_IDMAP_${string}` };

/** Codes that do not name a rule of map_write. */
const OTHER_CODES = [
  /** parseMap: nothing but blank space (a write of it would be refused as missing-field). */
  'ERR_IDMAP_EMPTY',
  /** IdMap.from: an extent with -1, a zero count or a wrapping range. */
  'ERR_IDMAP_INVALID',
  /** IdMap.from: two extents overlap in one column. */
  'ERR_IDMAP_OVERLAP',
  /** IdMap.from: more than 340 extents. */
  'ERR_IDMAP_TOO_MANY_EXTENTS',
  /** union and friends: the result would not be one-to-one. */
  'ERR_IDMAP_CONFLICT',
] as const;

export type IdmapRuleCode = (typeof RULE_CODES)[CheckRule];
export type IdmapErrorCode = IdmapRuleCode | (typeof OTHER_CODES)[number];

/** Every rule of map_write (parse.ts, check.ts), in the order the kernel checks them. */
export const CHECK_RULES = Object.keys(RULE_CODES) as readonly CheckRule[];

/** Every ERR_IDMAP_* code fsidmap throws, rule codes first in the order of map_write's checks. */
export const IDMAP_ERROR_CODES: readonly IdmapErrorCode[] = [...Object.values(RULE_CODES), ...OTHER_CODES];

/** The code of a refusal by one of map_write's rules: upper-overlap → ERR_IDMAP_UPPER_OVERLAP. */
export function ruleCode(rule: CheckRule): IdmapRuleCode {
  return RULE_CODES[rule];
}

/** For rules that arrive as plain strings (policy decisions carry the kernel's rule as text). */
export function isCheckRule(rule: unknown): rule is CheckRule {
  return typeof rule === 'string' && Object.hasOwn(RULE_CODES, rule);
}
