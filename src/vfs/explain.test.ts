import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMap } from '../idmap/index.js';
import { Explainer, type TreeEntry } from './explain.js';

const seed = (o: { fsid?: boolean; as?: { uid: number; gid: number } } = {}) =>
  new Explainer({
    uidmap: parseMap('0 100000 100000'),
    gidmap: parseMap('0 100000 100000'),
    ...(o.fsid ? { fsuidmap: parseMap('0 300000 100000'), fsgidmap: parseMap('0 300000 100000') } : {}),
    ...(o.as ? { as: o.as } : {}),
  });
const e = (path: string, depth: number, type: TreeEntry['type'], uid: number, gid: number, mode: number): TreeEntry => ({
  path,
  depth,
  type,
  uid,
  gid,
  mode,
  acl: null,
});

test('explain: without fsid maps the seed image shows as 65534 and root can only read what is world-readable', () => {
  const x = seed();
  x.explain(e('.', 0, 'dir', 300000, 300000, 0o755));
  const r = x.explain(e('etc/passwd', 1, 'file', 300000, 300000, 0o644));
  assert.deepEqual(r.seen, { uid: 65534, gid: 65534 });
  assert.deepEqual([r.read.ok, r.write.ok, r.chown.ok], [true, false, false]);
});

test("explain: with fsid maps 0 300000 100000 the same entry is root's, writable and chownable", () => {
  const x = seed({ fsid: true });
  x.explain(e('.', 0, 'dir', 300000, 300000, 0o755));
  const r = x.explain(e('etc/shadow', 1, 'file', 300000, 300042, 0o640));
  assert.deepEqual(r.seen, { uid: 0, gid: 42 });
  assert.deepEqual([r.read.ok, r.write.ok, r.chown.ok], [true, true, true]);
});

test('explain: an entry below a directory the user cannot search is unreachable, whatever its own mode', () => {
  const x = seed({ fsid: true, as: { uid: 1000, gid: 1000 } });
  x.explain(e('.', 0, 'dir', 300000, 300000, 0o755));
  x.explain(e('root', 1, 'dir', 300000, 300000, 0o700));
  const r = x.explain(e('root/open', 2, 'file', 301000, 301000, 0o666));
  assert.equal(r.reachable.ok, false);
  assert.equal(r.read.ok, false);
  assert.match(r.read.why, /not reachable/);
  const sibling = x.explain(e('tmp', 1, 'dir', 300000, 300000, 0o1777));
  assert.equal(sibling.reachable.ok, true, 'the stack of search verdicts unwinds');
  assert.equal(sibling.write.ok, true);
});

test('explain: --as with a uid the maps do not cover is a usage error', () => {
  assert.throws(() => seed({ fsid: true, as: { uid: 100000, gid: 0 } }), { code: 'ERR_USAGE' });
  assert.throws(() => new Explainer({ uidmap: parseMap('0 1 1'), gidmap: parseMap('0 1 1'), fsuidmap: parseMap('0 1 1') }), {
    code: 'ERR_USAGE',
  });
});
