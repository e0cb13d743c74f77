import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { axisId, axisPos } from './axis.js';

test('axis: 0, 65536 and 2^32 sit at 0, the log/linear seam and 1; positions grow with ids', () => {
  assert.equal(axisPos(0), 0);
  assert.equal(axisPos(65536), 0.14);
  assert.equal(axisPos(4294967296), 1);
  assert.ok(axisPos(1000) < axisPos(1001));
  assert.ok(axisPos(65535) < axisPos(65536) && axisPos(65536) < axisPos(65537));
});

test('axis: axisId inverts axisPos to within the id a position can name', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4294967295 }), (id) => {
      const back = axisId(axisPos(id));
      // Above 65536 one double position step is well below one id; below, log rounding may land on the id just under.
      assert.ok(back === id || (id <= 65536 && back === id - 1), `id ${id} → ${axisPos(id)} → ${back}`);
    }),
    { numRuns: 5000 },
  );
  for (const id of [0, 1, 999, 1000, 65534, 65535, 65536, 65537, 524288, 0x7ffe0000, 4294967295]) {
    assert.equal(axisId(axisPos(id)), id, `id ${id}`);
  }
});

test('axis: the functions are self-contained, so the page can inline their source', () => {
  const pos = new Function(`${axisPos.toString()}; return axisPos;`)() as typeof axisPos;
  const id = new Function(`${axisId.toString()}; return axisId;`)() as typeof axisId;
  for (const x of [0, 17, 65536, 1652555776, 4294967296]) {
    assert.equal(pos(x), axisPos(x));
    assert.equal(id(pos(x)), axisId(axisPos(x)));
  }
});
