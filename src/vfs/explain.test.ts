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

const issue21 = (fsid: string, realisation?: 'idmapped-mount' | 'fsid-series', as?: { uid: number; gid: number }) =>
  new Explainer({
    uidmap: parseMap('0:100000:65536'),
    gidmap: parseMap('0:100000:65536'),
    fsuidmap: parseMap(fsid),
    fsgidmap: parseMap(fsid),
    ...(as ? { as } : {}),
    ...(realisation ? { realisation } : {}),
  });

test('explain (idmapped mount, the default): an owner one past the fsid map makes a 0002+ACL file unwritable, HAS_UNMAPPED_ID', () => {
  const x = issue21('0:6174928:5000');
  x.explain(e('.', 0, 'dir', 6174928, 6174928, 0o755));
  const f = { ...e('f', 1, 'file', 6179928, 6175929, 0o072), acl: { users: [{ id: 6174928, perm: 6 }], groups: [], groupObj: 7 } };
  const r = x.explain(f);
  assert.equal(r.write.ok, false);
  assert.equal(r.write.rule, 'inode_permission');
  assert.match(r.write.why, /HAS_UNMAPPED_ID/);
  assert.equal(r.write.by, 'idmapped-mount');
  assert.equal(r.write.contrast?.realisation, 'fsid-series');
  assert.equal(r.write.contrast?.ok, true);
  assert.deepEqual(r.seen, { uid: 65534, gid: 1001 });
  const s = issue21('0:6174928:5000', 'fsid-series');
  s.explain(e('.', 0, 'dir', 6174928, 6174928, 0o755));
  const rs = s.explain(f);
  assert.equal(rs.write.ok, true, 'the series: the owner is still a valid kernel id, the ACL decides');
  assert.equal(rs.write.contrast?.realisation, 'idmapped-mount');
  assert.equal(rs.write.contrast?.ok, false);
});

test('explain: a directory of the container user whose group is unmapped (0705) takes no new entries through the mount', () => {
  const x = issue21('0:300000:65536', undefined, { uid: 1000, gid: 1000 });
  x.explain(e('.', 0, 'dir', 300000, 300000, 0o755));
  const r = x.explain(e('home', 1, 'dir', 301000, 500000, 0o705));
  assert.equal(r.read.ok, true);
  assert.equal(r.write.ok, false);
  assert.equal(r.write.by, 'idmapped-mount');
  assert.equal(r.write.contrast?.ok, true);
  assert.equal(r.chown.ok, false, 'setattr: an unmapped group may not stay (EOVERFLOW)');
});

test('explain: a 0666 file owned 0:0 under fsid map 0:300000:65536 is refused through the mount, writable in the series', () => {
  const x = issue21('0:300000:65536');
  x.explain(e('.', 0, 'dir', 300000, 300000, 0o755));
  const r = x.explain(e('f', 1, 'file', 0, 0, 0o666));
  assert.deepEqual([r.read.ok, r.write.ok], [true, false]);
  assert.equal(r.write.contrast?.ok, true);
  const clean = x.explain(e('g', 1, 'file', 300000, 300000, 0o600));
  assert.equal(clean.write.ok, true);
  assert.equal(clean.write.contrast, undefined, 'inside the map the two realisations agree');
  assert.equal(clean.write.by, undefined);
});

test('explain: without fsid maps there is one realisation and no contrast; a refusal by both says so', () => {
  const x = seed();
  x.explain(e('.', 0, 'dir', 100000, 100000, 0o755));
  const r = x.explain(e('ro', 1, 'file', 100005, 100005, 0o444));
  assert.equal(r.write.ok, true, 'root of the container: CAP_DAC_OVERRIDE');
  assert.equal(r.write.contrast, undefined);
  const y = issue21('0:300000:65536', undefined, { uid: 7, gid: 7 });
  y.explain(e('.', 0, 'dir', 300000, 300000, 0o755));
  const n = y.explain(e('ro', 1, 'file', 300000, 300000, 0o644));
  assert.equal(n.write.ok, false);
  assert.equal(n.write.by, 'both');
  assert.equal(n.write.contrast, undefined);
});

test('explain: maps run would refuse (fsid ids the id map cannot reach) are refused here too', () => {
  assert.throws(() => issue21('0:300000:70000'), { code: 'ERR_USAGE', message: /run and mount would refuse/ });
  assert.doesNotThrow(() => issue21('0:300000:70000', 'fsid-series'));
});
