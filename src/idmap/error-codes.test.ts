import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FsidmapError } from '../errors.js';
import { union } from './algebra.js';
import { checkMapWrite, type CheckRule, type MapWriteOptions } from './check.js';
import { CHECK_RULES, IDMAP_ERROR_CODES, isCheckRule, ruleCode } from './error-codes.js';
import { parseMap } from './format.js';
import { IdMap } from './idmap.js';

const user = (euid: number, setgroups: 'allow' | 'deny' = 'allow') => ({ privileged: false as const, euid, egid: euid, setgroups });

/** One write the kernel refuses for each rule: the checker, not the table, says which rule it is. */
const refusals: Array<[text: string, options: MapWriteOptions]> = [
  [`0 0 1${' '.repeat(5000)}`, {}],
  ['0 1\n', {}],
  ['0 1 x\n', {}],
  ['4294967295 0 1\n', {}],
  ['0 0 0\n', {}],
  ['4294967290 0 10\n', {}],
  ['0 4294967290 10\n', {}],
  ['0 0 10\n5 100 10\n', {}],
  ['0 0 10\n100 5 10\n', {}],
  [Array.from({ length: 341 }, (_, i) => `${i} ${i} 1`).join('\n') + '\n', {}],
  ['0 100000 1\n', { alreadyWritten: true }],
  ['0 0 1\n', { writer: { privileged: true, capSetfcap: false } }],
  ['0 1001 1\n', { writer: user(1000) }],
  ['0 1000 1\n', { kind: 'gid', writer: user(1000, 'allow') }],
  ['0 70000 1\n', { parent: parseMap('0 100000 65536') }],
];

describe('ERR_IDMAP_* codes', () => {
  test('the table has exactly the rules the checker refuses with, no more and no fewer', () => {
    const produced = new Set<CheckRule>();
    for (const [text, options] of refusals) {
      const v = checkMapWrite(text, options);
      assert.equal(v.ok, false, `${JSON.stringify(text.slice(0, 30))} should be refused`);
      produced.add(v.rule!);
    }
    assert.deepEqual([...produced].sort(), [...CHECK_RULES].sort());
  });

  test("each rule's code is ERR_IDMAP_ and the rule in upper snake case (the codes the four builders made before)", () => {
    for (const rule of CHECK_RULES) assert.equal(ruleCode(rule), `ERR_IDMAP_${rule.toUpperCase().replace(/-/g, '_')}`);
  });

  test('the set is closed: rule codes and the five others, each once', () => {
    assert.equal(new Set(IDMAP_ERROR_CODES).size, IDMAP_ERROR_CODES.length);
    assert.equal(IDMAP_ERROR_CODES.length, CHECK_RULES.length + 5);
    for (const rule of CHECK_RULES) assert.ok(IDMAP_ERROR_CODES.includes(ruleCode(rule)));
  });

  test("isCheckRule accepts the rules only (not a policy's fallback text, not an object's own keys)", () => {
    for (const rule of CHECK_RULES) assert.equal(isCheckRule(rule), true);
    for (const other of ['kernel', 'overflow', 'constructor', 'toString', '__proto__', '', null, 3])
      assert.equal(isCheckRule(other), false, String(other));
  });

  test('what parseMap, IdMap.from and the algebra throw is in the set', () => {
    const codeOf = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        assert.ok(e instanceof FsidmapError);
        return e.code;
      }
      assert.fail('no error');
    };
    const thrown = [
      codeOf(() => parseMap('   ')),
      codeOf(() => parseMap('0 0 1\n0 5 1')),
      codeOf(() => parseMap('0:0:0')),
      codeOf(() => IdMap.from([{ first: 0, lower: 0, count: 0 }])),
      codeOf(() =>
        IdMap.from([
          { first: 0, lower: 0, count: 10 },
          { first: 5, lower: 100, count: 10 },
        ]),
      ),
      codeOf(() => union(parseMap('0 100 10'), parseMap('0 200 10'))),
    ];
    assert.deepEqual(thrown, [
      'ERR_IDMAP_EMPTY',
      'ERR_IDMAP_UPPER_OVERLAP',
      'ERR_IDMAP_COUNT_ZERO',
      'ERR_IDMAP_INVALID',
      'ERR_IDMAP_OVERLAP',
      'ERR_IDMAP_CONFLICT',
    ]);
    for (const code of thrown) assert.ok(IDMAP_ERROR_CODES.includes(code as never), code);
  });
});
