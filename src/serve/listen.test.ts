import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFsidmapError } from '../errors.js';
import { allowedHosts, isLoopback, parseListen } from './listen.js';

test('listen: HOST:PORT and [IPV6]:PORT parse; anything else is a usage error', () => {
  assert.deepEqual(parseListen('127.0.0.1:8080'), { kind: 'tcp', host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseListen('[::1]:0'), { kind: 'tcp', host: '::1', port: 0 });
  assert.deepEqual(parseListen('localhost:9'), { kind: 'tcp', host: 'localhost', port: 9 });
  for (const bad of ['8080', '127.0.0.1', '127.0.0.1:70000', '::1:80', '[nothex]:80', ':80', 'a:b']) {
    assert.throws(
      () => parseListen(bad),
      (e) => isFsidmapError(e) && e.code === 'ERR_USAGE',
      bad,
    );
  }
});

test('listen: loopback is 127/8, ::1 and localhost; every other address is not', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopback(h), true, h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'example.com', '128.0.0.1']) assert.equal(isLoopback(h), false, h);
});

test('listen: a loopback server answers to its own names and port only', () => {
  const hosts = allowedHosts('127.0.0.1', 4321);
  assert.deepEqual([...hosts].sort(), ['127.0.0.1:4321', '[::1]:4321', 'localhost:4321']);
  assert.ok(allowedHosts('::1', 80).has('[::1]:80'));
});
