import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandModules } from './index.js';

test('each command module defines exactly the names the lazy index lists for it', async () => {
  for (const m of commandModules) {
    const defined = (await m.load()).map((c) => c.name).sort();
    assert.deepEqual(defined, [...m.names].sort());
  }
  const all = commandModules.flatMap((m) => m.names);
  assert.equal(new Set(all).size, all.length, 'no name is listed twice');
});
