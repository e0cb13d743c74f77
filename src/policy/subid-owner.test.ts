import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Accounts } from './accounts.js';
import { parseSubidDb } from './subid-db.js';
import { findRange, haveRange, ownedIntervals, ownerView } from './subid-owner.js';

const accounts = Accounts.parse('alice:x:1000:1000::/:/bin/sh\nbob:x:1001:1001::/:/bin/sh\nalias:x:1000:1000::/:/bin/sh\n');
const view = (text: string, name = 'alice', uidFallback = true) => ownerView(parseSubidDb(text), name, accounts, { uidFallback });
const have = (text: string, start: number, count: number, name = 'alice') => haveRange(view(text, name), BigInt(start), BigInt(count)).ok;

test('have_range: inside one entry, across adjacent entries, not across a gap', () => {
  const f = 'alice:100000:30000\nalice:130000:35536\nalice:200000:10\n';
  assert.equal(have(f, 100000, 30000), true);
  assert.equal(have(f, 100000, 65536), true, 'adjacent entries join');
  assert.equal(have(f, 129999, 2), true);
  assert.equal(have(f, 100000, 65537), false, 'one past the joined block');
  assert.equal(have(f, 165535, 34466), false, 'gap between blocks');
  assert.equal(have(f, 99999, 2), false);
  assert.equal(have(f, 100000, 0), false, 'count 0 is never covered');
});

test('have_range: entries of other owners do not join', () => {
  assert.equal(have('alice:100000:30000\nbob:130000:35536\n', 100000, 65536), false);
});

test('find_range pass 2: owner as decimal uid, or another name with the same uid', () => {
  assert.equal(have('1000:100000:65536\n', 100000, 65536), true);
  assert.equal(have('alias:100000:65536\n', 100000, 65536), true);
  assert.equal(have('01000:100000:65536\n', 100000, 65536), false, 'the uid is compared as "%lu" text');
  assert.equal(have('alice:100000:30000\n1000:130000:35536\n', 100000, 65536), true, 'a chain may switch between passes');
  assert.equal(haveRange(view('1000:100000:65536\n', 'alice', false), 100000n, 1n).ok, false, 'no pass 2 for other file names');
});

test('find_range: an owner without a passwd entry only matches by exact name', () => {
  const v = ownerView(parseSubidDb('ghost:100000:10\n99:200000:10\n'), 'ghost', accounts);
  assert.equal(haveRange(v, 100000n, 10n).ok, true);
  assert.equal(v.byUid.length, 0);
});

test('shadow arithmetic: "owner:0:0" contains every id (last = ULONG_MAX)', () => {
  assert.equal(have('alice:0:0\n', 0, 1), true);
  assert.equal(have('alice:0:0\n', 0, 4294967295), true);
  assert.equal(have('alice:5:0\n', 5, 1), false, 'count 0 elsewhere is empty');
  assert.equal(have('alice:1:18446744073709551615\n', 7, 1000), true, 'no wrap: last = ULONG_MAX');
  assert.equal(have('alice:2:18446744073709551615\n', 7, 1), false, 'wraps: last = 0 < first');
  assert.equal(have('alice:-1:1\n', 0, 1), false);
});

test('findRange returns the first containing entry in file order, exact names first', () => {
  const v = view('1000:100:50\nalice:120:5\nalice:100:10\n');
  assert.equal(findRange(v, 105n)?.line.lineNo, 3);
  assert.equal(findRange(v, 140n)?.line.lineNo, 1);
});

test('ownedIntervals: merged, clipped to valid ids', () => {
  assert.deepEqual(ownedIntervals(view('alice:10:5\nalice:15:5\nalice:30:1\n1000:29:1\n')), [
    [10, 20],
    [29, 31],
  ]);
  assert.deepEqual(ownedIntervals(view('alice:0:0\n')), [[0, 4294967295]]);
});

test('property: have_range (step by step) answers exactly "is [a, a+n) inside the union of owned entries"', () => {
  const entry = fc.record({
    owner: fc.constantFrom('alice', 'bob', '1000', 'alias', '1001'),
    start: fc.integer({ min: 0, max: 200 }),
    count: fc.integer({ min: 0, max: 40 }),
  });
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 12 }), fc.integer({ min: 0, max: 260 }), fc.integer({ min: 1, max: 80 }), (entries, a, n) => {
      const text = entries.map((e) => `${e.owner}:${e.start}:${e.count}`).join('\n') + '\n';
      const v = view(text);
      const byWalk = haveRange(v, BigInt(a), BigInt(n)).ok;
      const owned = new Set<number>();
      for (const e of entries) {
        const mine = e.owner === 'alice' || e.owner === '1000' || e.owner === 'alias';
        if (!mine) continue;
        if (e.start === 0 && e.count === 0) for (let i = 0; i < 400; i++) owned.add(i);
        for (let i = e.start; i < e.start + e.count; i++) owned.add(i);
      }
      let byUnion = true;
      for (let i = a; i < a + n; i++) if (!owned.has(i)) byUnion = false;
      assert.equal(byWalk, byUnion);
    }),
    { numRuns: 3000 },
  );
});
