import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mappingText, mapTextToArgs, parseMapArgs } from './map-args.js';

const rule = (args: string[]) => {
  const r = parseMapArgs(args);
  return r.ok ? 'ok' : r.rule;
};

test('get_map_ranges: arguments must come in threes; none at all is accepted here', () => {
  assert.equal(rule([]), 'ok');
  assert.equal(rule(['0']), 'argument-count');
  assert.equal(rule(['0', '1']), 'argument-count');
  assert.equal(rule(['0', '1', '1', '2']), 'argument-count');
  assert.equal(rule(['0', '1', '1', '2', '3', '1']), 'ok');
});

test('get_map_ranges: numbers as getulong reads them', () => {
  const r = parseMapArgs(['0x0', '0303240', '+10', ' 1', '-0', '1']);
  assert.ok(r.ok);
  if (r.ok) assert.equal(mappingText(r.ranges), '0 100000 10\n1 0 1\n');
  for (const bad of ['', '1 ', 'x', '08', '1e3', '18446744073709551616'])
    assert.equal(rule(['0', bad, '1']), 'bad-number', JSON.stringify(bad));
});

test('get_map_ranges: overflow checks in 64-bit unsigned arithmetic', () => {
  assert.equal(rule(['0', '4294967294', '1']), 'ok');
  assert.equal(rule(['0', '4294967295', '0']), 'ok', 'count 0 passes parsing (verify_range refuses it later)');
  assert.equal(rule(['4294967295', '0', '0']), 'ok');
  assert.equal(rule(['0', '4294967295', '1']), 'overflow');
  assert.equal(rule(['1', '0', '4294967295']), 'overflow');
  assert.equal(rule(['0', '0', '4294967295']), 'ok');
  assert.equal(rule(['0', '100000', '-1']), 'overflow', '-1 is ULONG_MAX');
  assert.equal(rule(['4294967296', '0', '0']), 'overflow');
  assert.equal(rule(['0', '-4294967296', '1']), 'overflow');
});

test("get_map_ranges: the first failing mapping decides, in order (parse before that mapping's overflow)", () => {
  const a = parseMapArgs(['0', '100000', '-1', 'x', '1', '1']);
  assert.ok(!a.ok && a.rule === 'overflow' && a.mapping === 0);
  const b = parseMapArgs(['0', '100000', '1', '0', 'x', '-1']);
  assert.ok(!b.ok && b.rule === 'bad-number' && b.mapping === 1 && b.argument === 4);
  const c = parseMapArgs(['x', '0', '-1']);
  assert.ok(!c.ok && c.rule === 'bad-number');
});

test('mapTextToArgs: kernel-style lines become newuidmap arguments', () => {
  assert.deepEqual(mapTextToArgs('0 100000 65536\n65536 1000\t1\n'), ['0', '100000', '65536', '65536', '1000', '1']);
});
