import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FsidmapError } from '../errors.js';
import { DEFAULT_SERVER_LIMITS, DEFAULT_USER_LIMITS, limitsFor, parseLimits, RateLimiter } from './limits.js';

test('an empty limits file keeps every default', () => {
  const l = parseLimits('{}');
  assert.deepEqual(l.server, DEFAULT_SERVER_LIMITS);
  assert.deepEqual(l.defaults, DEFAULT_USER_LIMITS);
});

test('users are matched by name first, then by uid; unset keys fall back to the default', () => {
  const l = parseLimits(JSON.stringify({ default: { namespaces: 4 }, users: { alice: { ids: 65536 }, 1001: { namespaces: 1 } } }));
  assert.deepEqual(limitsFor(l, 1000, 'alice'), { ...DEFAULT_USER_LIMITS, namespaces: 4, ids: 65536 });
  assert.deepEqual(limitsFor(l, 1001, 'bob'), { ...DEFAULT_USER_LIMITS, namespaces: 1 });
  assert.deepEqual(limitsFor(l, 1002, null), { ...DEFAULT_USER_LIMITS, namespaces: 4 });
});

const bad: Array<[string, string]> = [
  ['not JSON', '{'],
  ['an array', '[]'],
  ['an unknown top-level key', '{"usres":{}}'],
  ['an unknown user key', '{"default":{"namespace":3}}'],
  ['an unknown server key', '{"server":{"maxLine":3}}'],
  ['a negative number', '{"default":{"ids":-1}}'],
  ['a string number', '{"default":{"ids":"5"}}'],
  ['a line limit too small to hold a request', '{"server":{"maxLineBytes":10}}'],
  ['users not an object', '{"users":[]}'],
];
for (const [name, text] of bad) {
  test(`refused: ${name}`, () => {
    assert.throws(
      () => parseLimits(text, 'limits.json'),
      (e: unknown) => e instanceof FsidmapError && e.code === 'ERR_BROKER_LIMITS_FILE' && e.message.startsWith('limits.json'),
    );
  });
}

test('the token bucket allows a burst, then the sustained rate', () => {
  const r = new RateLimiter();
  const lim = { requestsPerSecond: 2, burst: 3 };
  const at = (t: number) => r.take('u', lim, t);
  assert.deepEqual([at(0), at(0), at(0), at(0)], [true, true, true, false]);
  assert.equal(at(499), false, 'not yet a whole token back');
  assert.equal(at(500), true, 'one token after half a second at 2/s');
  assert.equal(at(500), false);
  assert.deepEqual([at(10_000), at(10_000), at(10_000), at(10_000)], [true, true, true, false], 'refills to the burst, not beyond');
  assert.equal(r.take('other', lim, 0), true, 'keys are independent');
});

test('sweep forgets full buckets only', () => {
  const r = new RateLimiter();
  const lim = { requestsPerSecond: 1, burst: 2 };
  r.take('a', lim, 0);
  r.take('a', lim, 0);
  r.sweep(() => lim, 1000);
  assert.equal(r.take('a', lim, 1000), true);
  assert.equal(r.take('a', lim, 1000), false, 'the bucket was kept: only one token had come back');
});
