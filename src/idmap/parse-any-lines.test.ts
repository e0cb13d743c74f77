import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseMapWrite } from './parse.js';

const OVERLAP = new Set(['upper-overlap', 'lower-overlap']);

// Small ids so that random lines often overlap in one column or the other.
const arbLines = fc.array(fc.tuple(fc.nat(60), fc.nat(60), fc.integer({ min: 1, max: 8 })), { minLength: 1, maxLength: 40 });

test('anyLines (overlaps by sorting) accepts and refuses exactly what the line-by-line parse does, below 341 lines', () => {
  fc.assert(
    fc.property(arbLines, (rows) => {
      const text = rows.map(([f, l, c]) => `${f} ${l} ${c}\n`).join('');
      const kernel = parseMapWrite(text),
        any = parseMapWrite(text, { anyLines: true });
      assert.equal(any.ok, kernel.ok, text);
      if (kernel.ok && any.ok) assert.deepEqual(any.extents, kernel.extents);
      if (!kernel.ok && !any.ok) {
        // Which of several overlapping pairs is named may differ; that it is an overlap may not.
        assert.equal(OVERLAP.has(any.rule), OVERLAP.has(kernel.rule), `${kernel.rule} vs ${any.rule}\n${text}`);
        if (!OVERLAP.has(kernel.rule)) assert.deepEqual([any.rule, any.line], [kernel.rule, kernel.line]);
      }
    }),
    { numRuns: 3000, seed: 14 },
  );
});

test('anyLines takes 341 lines and more; the kernel parse refuses the 341st', () => {
  const text = Array.from({ length: 1000 }, (_, i) => `${i} ${100000 + i} 1\n`).join('');
  const kernel = parseMapWrite(text, { enforcePageSize: false });
  assert.equal(kernel.ok ? null : [kernel.rule, kernel.line].join(' '), 'too-many-lines 341');
  const any = parseMapWrite(text, { enforcePageSize: false, anyLines: true });
  assert.equal(any.ok && any.extents.length, 1000);
});
