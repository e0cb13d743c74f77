import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMapWrite } from './parse.js';

test('parse: one trailing newline is allowed, two are junk', () => {
  assert.equal(parseMapWrite('0 100000 65536\n').ok, true);
  const r = parseMapWrite('0 100000 65536\n\n');
  assert.equal(r.ok, false);
  if (!r.ok) { assert.equal(r.line, 2); assert.equal(r.errno, 'EINVAL'); }
});
