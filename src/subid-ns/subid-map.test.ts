import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { mapId, mapLines, mapSize, subidMapFor } from './subid-map.js';

const dir = mkdtempSync(join(tmpdir(), 'fsidmap-subid-map-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const f = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const passwd = f('passwd', 'root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/:/bin/sh\nbob:x:1001:1001::/:/bin/sh\n');
const group = f('group', 'root:x:0:\nalice:x:1000:\n');

test("the map: 0 is the caller's own id, 1..N the first subordinate range (adjacent entries joined, by name before by uid)", () => {
  const subuid = f('u1', 'bob:300000:65536\nalice:100000:65536\nalice:165536:1000\n1000:500000:10\n');
  const subgid = f('g1', '1000:200000:4096\n');
  const m = subidMapFor({ uid: 1000, gid: 1000 }, { passwd, group, subuid, subgid });
  assert.equal(m.user, 'alice');
  assert.deepEqual(m.uid, [
    { first: 0, lower: 1000, count: 1 },
    { first: 1, lower: 100000, count: 66536 },
  ]);
  // Owned through the uid in decimal, as newgidmap's second pass finds it.
  assert.deepEqual(m.gid, [
    { first: 0, lower: 1000, count: 1 },
    { first: 1, lower: 200000, count: 4096 },
  ]);
  assert.equal(mapLines(m.uid), '0 1000 1\n1 100000 66536\n');
  assert.equal(mapSize(m.gid), 4097);
  assert.equal(mapId(m.uid, 0), 1000);
  assert.equal(mapId(m.uid, 1), 100000);
  assert.equal(mapId(m.uid, 66536), 166535);
  assert.equal(mapId(m.uid, 66537), undefined);
});

test('no subordinate range, or no account: ERR_SUBID_NO_RANGE with what to do', () => {
  const subuid = f('u2', 'alice:100000:65536\n');
  const subgid = f('g2', 'alice:100000:65536\n');
  assert.throws(
    () => subidMapFor({ uid: 1001, gid: 1001 }, { passwd, group, subuid, subgid }),
    (e: { code: string; message: string; hint: string }) =>
      e.code === 'ERR_SUBID_NO_RANGE' && /bob has no subordinate uids/.test(e.message) && /usermod --add-subuids .* bob/.test(e.hint),
  );
  assert.throws(
    () => subidMapFor({ uid: 1000, gid: 1000 }, { passwd, group, subuid, subgid: join(dir, 'missing') }),
    (e: { code: string; message: string }) => e.code === 'ERR_SUBID_NO_RANGE' && /no subordinate gids/.test(e.message),
  );
  assert.throws(
    () => subidMapFor({ uid: 4242, gid: 4242 }, { passwd, group, subuid, subgid }),
    (e: { code: string; message: string }) => e.code === 'ERR_SUBID_NO_RANGE' && /uid 4242 has no entry/.test(e.message),
  );
});

test('a map with a gap is only as large as its dense start', () => {
  assert.equal(
    mapSize([
      { first: 0, lower: 5, count: 1 },
      { first: 2, lower: 9, count: 10 },
    ]),
    1,
  );
});
