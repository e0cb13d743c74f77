import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdMap, parseMap } from '../idmap/index.js';
import { checkName, parseUserArg, parseVolumeArg } from './spec.js';

const read = (text: string) => {
  const m = parseMap(text);
  return { uid: m, gid: m };
};

describe('--volume SRC:DST[:ro][:fsidmap=MAP]', () => {
  const ok: Array<[string, { source: string; target: string; readonly: boolean; fsidmap: string | null }]> = [
    ['/srv/a:/data', { source: '/srv/a', target: '/data', readonly: false, fsidmap: null }],
    ['/srv/a:/data:ro', { source: '/srv/a', target: '/data', readonly: true, fsidmap: null }],
    ['/srv/a:/data:rw', { source: '/srv/a', target: '/data', readonly: false, fsidmap: null }],
    ['rel/a:/data/x/', { source: 'rel/a', target: '/data/x', readonly: false, fsidmap: null }],
    ['/srv/a:/data:fsidmap=0:500000:65536', { source: '/srv/a', target: '/data', readonly: false, fsidmap: '0:500000:65536' }],
    // podman's comma style, and ro after the map
    ['/srv/a:/data:ro,fsidmap=0:500000:65536', { source: '/srv/a', target: '/data', readonly: true, fsidmap: '0:500000:65536' }],
    ['/srv/a:/data:fsidmap=0:500000:65536,ro', { source: '/srv/a', target: '/data', readonly: true, fsidmap: '0:500000:65536' }],
    [
      '/srv/a:/data:rw,fsidmap=0:500000:10,10:600000:5',
      { source: '/srv/a', target: '/data', readonly: false, fsidmap: '0:500000:10,10:600000:5' },
    ],
    [
      '/srv/a:/data:ro:fsidmap=0:500000:10,10:600000:5',
      { source: '/srv/a', target: '/data', readonly: true, fsidmap: '0:500000:10,10:600000:5' },
    ],
  ];
  for (const [arg, want] of ok) {
    it(`parses ${arg} (a map after fsidmap= may hold colons)`, () => {
      const v = parseVolumeArg(arg, read);
      assert.deepEqual(
        { ...v, fsidmap: v.fsidmap && v.fsidmap.uid.toString() },
        { ...want, fsidmap: want.fsidmap && parseMap(want.fsidmap).toString() },
      );
    });
  }
  const bad = [
    '/srv/a',
    '/srv/a:',
    ':/data',
    '/srv/a:data',
    '/srv/a:/data:rx',
    '/srv/a:/data:ro:extra',
    '/srv/a:/x/../etc',
    '/srv/a:/data:ro,rw',
    '/srv/a:/data:z',
    '/srv/a:/data:ro,U',
    '/srv/a:/data:fsidmap=',
  ];
  for (const arg of bad) {
    it(`refuses "${arg}" as a usage error`, () => assert.throws(() => parseVolumeArg(arg, read), { code: 'ERR_USAGE' }));
  }
  it("keeps the map's own error code for a bad fsidmap=", () => {
    assert.throws(
      () => parseVolumeArg('/a:/b:fsidmap=0:1:0', read),
      (e: { code?: string }) => e.code?.startsWith('ERR_IDMAP_') === true,
    );
  });
});

describe('--user UID[:GID] and names', () => {
  it('takes numbers and image names', () => {
    assert.deepEqual(parseUserArg('1000'), { user: '1000', group: null });
    assert.deepEqual(parseUserArg('1000:50'), { user: '1000', group: '50' });
    assert.deepEqual(parseUserArg('www-data:staff'), { user: 'www-data', group: 'staff' });
  });
  for (const arg of ['', ':', '1:2:3', 'a b', '-1']) {
    it(`refuses "${arg}"`, () => assert.throws(() => parseUserArg(arg), { code: 'ERR_USAGE' }));
  }
});

describe('container names', () => {
  for (const n of ['a', 'web-1', 'db_2.test', 'x'.repeat(63)]) it(`accepts ${n.slice(0, 10)}`, () => assert.equal(checkName(n), n));
  for (const n of ['', '-a', '.a', 'a/b', 'a b', 'x'.repeat(64)])
    it(`refuses "${n.slice(0, 10)}"`, () => assert.throws(() => checkName(n), { code: 'ERR_USAGE' }));
  it('IdMap stays the shared type', () => assert.ok(read('0:1:1').uid instanceof IdMap));
});
