import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromKfsidMunged, fromKidMunged, kfsidToKid, kidToKfsid, makeKfsid, makeKid } from './lookup.js';
import { UsernsSystem } from './system.js';
import type { FsidSemantics } from './namespace.js';

function ns(semantics: FsidSemantics, fsid: boolean) {
  const sys = new UsernsSystem(semantics);
  const host = sys.spawn('host');
  const c = sys.unshare(sys.fork(host, 'h'), 'c').value!.ns;
  if (fsid) sys.writeMap(host, c, 'fsuid', '0 300000 100000\n');
  sys.writeMap(host, c, 'uid', '0 100000 100000\n');
  return c;
}

test('make_kfsuid: v3 uses the fsid map; off uses the id map; v2 falls back to the id map only while the fsid map is empty', () => {
  const table: Array<[FsidSemantics, boolean, number | undefined]> = [
    ['v3', true, 300005],
    ['v3', false, 100005],
    ['v2', true, 300005],
    ['v2', false, 100005],
    ['off', false, 100005],
  ];
  for (const [sem, fsid, want] of table) assert.equal(makeKfsid(ns(sem, fsid), 'uid', 5), want, `${sem} fsid=${fsid}`);
});

test('from_kfsuid_munged: unmapped kernel ids read as the overflow id 65534', () => {
  const c = ns('v3', true);
  assert.equal(fromKfsidMunged(c, 'uid', 300007), 7);
  assert.equal(fromKfsidMunged(c, 'uid', 100007), 65534);
  assert.equal(fromKidMunged(c, 'uid', 100007), 7);
  assert.equal(fromKidMunged(c, 'uid', 300007), 65534);
});

test('kfsuid_to_kuid / kuid_to_kfsuid: up one map, down the other', () => {
  const c = ns('v3', true);
  assert.equal(kfsidToKid(c, 'uid', 300042), 100042);
  assert.equal(kidToKfsid(c, 'uid', 100042), 300042);
  assert.equal(kidToKfsid(c, 'uid', 5), undefined);
  assert.equal(makeKid(c, 'uid', 100000), undefined);
});
