import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Allocation } from '../alloc/index.js';
import { containerViews, encodeAllocations, encodeRanges, findingView } from './space.js';

const u32 = (b64: string): number[] => {
  const b = Buffer.from(b64, 'base64');
  return [...new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4)];
};

function alloc(name: string, start: number, slots: number, more: Partial<Allocation> = {}): Allocation {
  return {
    id: 1,
    realm: 'default',
    name,
    kind: 'container',
    owner: null,
    parent: null,
    fs: null,
    holder: null,
    createdAt: '2026-01-02T03:04:05.000Z',
    uid: { start, end: start + slots * 65536 },
    gid: { start: start + 65536 * 100, end: start + 65536 * 100 + slots * 65536 },
    ...more,
  };
}

test('space: allocations become columns that decode back to their ranges, kinds and times; extras only where set', () => {
  const holder = { pid: 7, startTime: 9, bootId: 'secret-boot', machineId: 'secret-machine', host: 'h1' };
  const list = [
    alloc('a', 524288, 1),
    alloc('img', 0x10000000, 2, { kind: 'image', owner: 'shared' }),
    alloc('b', 0x6fff0000, 1, { fs: 'img', holder }),
  ];
  const e = encodeAllocations(list);
  assert.equal(e.count, 3);
  assert.deepEqual(e.name, ['a', 'img', 'b']);
  assert.equal(e.kind, 'cic');
  assert.deepEqual(u32(e.uidFirst), [524288, 0x10000000, 0x6fff0000]);
  assert.deepEqual(u32(e.uidSlots), [1, 2, 1]);
  assert.deepEqual(
    u32(e.gidFirst),
    list.map((a) => a.gid.start),
  );
  assert.deepEqual(u32(e.created), [1767323045, 1767323045, 1767323045]);
  assert.deepEqual(e.extra, [
    [1, 'shared', null, null, null],
    [2, null, null, 'img', 'pid 7 on h1'],
  ]);
  assert.ok(!JSON.stringify(e).includes('secret'), 'boot and machine ids stay out');
});

test('space: subordinate ranges sorted, with inclusive last ids (a range ending at 2^32 fits a u32) and line numbers', () => {
  const r = encodeRanges([
    { owner: 'z', start: 4294901760, end: 4294967296, line: 3 },
    { owner: 'a', start: 100000, end: 165536, line: 1 },
  ]);
  assert.deepEqual(r.owner, ['a', 'z']);
  assert.deepEqual(u32(r.first), [100000, 4294901760]);
  assert.deepEqual(u32(r.last), [165535, 4294967295]);
  assert.deepEqual(u32(r.line), [1, 3]);
});

test("space: containers get their allocation's fs target and fsid maps, and who else shares that target", () => {
  const list = [
    alloc('img', 0x10000000, 1, { kind: 'image' }),
    alloc('c1', 524288, 1, { fs: 'img' }),
    alloc('c2', 589824, 1, { fs: 'img' }),
  ];
  const running = ['c2', 'c1', 'loose'].map((name, i) => ({
    name,
    pid: 100 + i,
    uidMap: '0 1 1',
    gidMap: '0 1 1',
    rootfs: null,
    startedAt: '2026-01-01T00:00:00Z',
  }));
  const v = containerViews(running, list);
  assert.deepEqual(
    v.map((c) => [c.name, c.fs, c.fsuidMap, c.sharesWith]),
    [
      ['c1', 'img', `0 ${0x10000000} 65536`, ['c2']],
      ['c2', 'img', `0 ${0x10000000} 65536`, ['c1']],
      ['loose', null, null, []],
    ],
  );
});

test("space: a finding's half-open range becomes first and last id", () => {
  const f = findingView({
    severity: 'error',
    code: 'overlap',
    file: 'subuid',
    lines: [1, 2],
    owner: 'a,b',
    range: [150000, 165536],
    message: 'm',
    hint: 'h',
  });
  assert.deepEqual(f.range, [150000, 165535]);
  assert.deepEqual(
    findingView({
      severity: 'error',
      code: 'grants-all',
      file: 'subuid',
      lines: [1],
      owner: 'x',
      range: [0, 4294967296],
      message: 'm',
      hint: 'h',
    }).range,
    [0, 4294967295],
  );
});

test('space: serialised with cached parts, the text equals JSON.stringify, and a part is serialised once', async () => {
  const { serializeSpace } = await import('./watcher.js');
  const { buildSpace, encodeHost } = await import('./space.js');
  const facts = {
    users: [{ name: 'u<', id: 1000 }],
    groups: [],
    subuid: [{ owner: 'a', start: 100000, end: 165536, line: 1 }],
    subgid: [],
  };
  const host = encodeHost(facts);
  const audit = {
    error: null,
    paths: { subuid: 's', subgid: 'g' },
    counts: { error: 0, warning: 0, info: 0 },
    truncated: {},
    findings: [],
  };
  const pool = {
    label: 'p',
    ranges: [],
    slots: 0,
    allocatedSlots: 0,
    freeSlots: 0,
    excludedSlots: 0,
    largestFreeRun: 0,
    freeRuns: 0,
    fragmentation: 0,
  };
  const make = (stamp: string) =>
    buildSpace({
      stamp,
      now: new Date(0),
      source: { store: 'sqlite', location: 'x', realm: 'default', readOnly: true },
      allocations: [alloc('a', 524288, 1)],
      facts,
      audit,
      containers: [],
      pool,
      history: [],
      host,
    });
  const cache = new WeakMap<object, string>();
  const one = make('1');
  assert.equal(serializeSpace(one, cache), JSON.stringify(one));
  assert.equal(cache.get(one.subuid), JSON.stringify(one.subuid));
  const two = make('2');
  assert.equal(two.subuid, one.subuid, 'the same host parts');
  assert.equal(serializeSpace(two, cache), JSON.stringify(two));
});
