import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BulkTranslator, translateIds } from './bulk.js';
import { arbId, arbMap } from './arbitraries.test-support.js';
import { INVALID_ID } from './extent.js';
import { IdMap } from './idmap.js';
import { parseMap } from './format.js';

test('bulk translation agrees with map_id_down and map_id_up for every id', () => {
  fc.assert(
    fc.property(arbMap(40), fc.array(arbId(), { maxLength: 200 }), (m, ids) => {
      const input = Uint32Array.from(ids);
      for (const dir of ['down', 'up'] as const) {
        const out = new Uint32Array(input.length);
        const unmapped = new BulkTranslator(m, dir).translateArray(input, out);
        let expectUnmapped = 0;
        ids.forEach((x, i) => {
          const want = dir === 'down' ? m.mapIdDown(x) : m.mapIdUp(x);
          if (want === undefined) expectUnmapped++;
          assert.equal(out[i], want ?? INVALID_ID, `${dir} ${x}`);
        });
        assert.equal(unmapped, expectUnmapped);
      }
    }),
    { numRuns: 500 },
  );
});

test('bulk translation at bucket edges and map edges', () => {
  const m = parseMap('0 100000 65536\n65536 1 1\n65537 4294967293 2\n131071 200000 65537');
  const ids = [0, 65535, 65536, 65537, 65538, 65539, 131070, 131071, 196607, 196608, 196609, 4294967294, 4294967295];
  const { output, unmapped } = translateIds(m, Uint32Array.from(ids));
  assert.deepEqual(
    [...output],
    ids.map((x) => m.mapIdDown(x) ?? INVALID_ID),
  );
  assert.equal(unmapped, ids.filter((x) => m.mapIdDown(x) === undefined).length);
});

test('bulk translation through the identity and the empty map', () => {
  const ids = Uint32Array.from([0, 1, 65534, 4294967294, 4294967295]);
  assert.deepEqual([...translateIds(IdMap.identity(), ids).output], [0, 1, 65534, 4294967294, INVALID_ID]);
  assert.deepEqual([...translateIds(IdMap.empty(), ids).output], [INVALID_ID, INVALID_ID, INVALID_ID, INVALID_ID, INVALID_ID]);
});

test('bulk translation may work in place', () => {
  const ids = Uint32Array.from([5, 6, 7]);
  new BulkTranslator(parseMap('0 300000 65536')).translateArray(ids);
  assert.deepEqual([...ids], [300005, 300006, 300007]);
});
