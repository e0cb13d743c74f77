import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ACL_GROUP,
  ACL_TAG,
  ACL_UNDEFINED_ID,
  ACL_USER,
  type AclEntry,
  type IdTranslate,
  aclIds,
  decodeAcl,
  decodeCap,
  encodeAcl,
  encodeCap,
  namespaceCapabilityValue,
  namespacedCap,
  readCapabilityRoot,
  readPosixAclIds,
  rewriteCapabilityRoot,
  rewritePosixAclIds,
  translateAcl,
  translateCap,
} from './xattr-codec.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// What `setfacl -m u:1000:rwx,g:50:r-x f` leaves in system.posix_acl_access on
// ext4 (read back with lgetxattr): user_obj rw-, user 1000 rwx, group_obj r--,
// group 50 r-x, mask rwx, other r--.
const SETFACL_SAMPLE =
  '02000000' +
  '0100 0600 ffffffff' +
  '0200 0700 e8030000' +
  '0400 0400 ffffffff' +
  '0800 0500 32000000' +
  '1000 0700 ffffffff' +
  '2000 0400 ffffffff';

// `setcap cap_net_raw+ep f`: revision 2, effective, permitted bit 13.
const SETCAP_V2 = '01000002' + '00200000' + '00000000' + '00000000' + '00000000';
// `setcap -n 100000 cap_net_raw+ep f`: revision 3 with rootid 100000.
const SETCAP_V3 = '01000003' + '00200000' + '00000000' + '00000000' + '00000000' + 'a0860100';

const shiftBy = (n: number, from = 0, count = 65536): IdTranslate => ({
  uid: (id) => (id >= from && id < from + count ? id + n : undefined),
  gid: (id) => (id >= from && id < from + count ? id + n : undefined),
});

test('acl: decodes the bytes setfacl writes', () => {
  const e = decodeAcl(hex(SETFACL_SAMPLE));
  assert.deepEqual(
    e.map((x) => [x.tag, x.perm, x.id]),
    [
      [ACL_TAG.USER_OBJ, 6, ACL_UNDEFINED_ID],
      [ACL_TAG.USER, 7, 1000],
      [ACL_TAG.GROUP_OBJ, 4, ACL_UNDEFINED_ID],
      [ACL_TAG.GROUP, 5, 50],
      [ACL_TAG.MASK, 7, ACL_UNDEFINED_ID],
      [ACL_TAG.OTHER, 4, ACL_UNDEFINED_ID],
    ],
  );
  assert.deepEqual(aclIds(e), { uids: [1000], gids: [50] });
  assert.equal(toHex(encodeAcl(e)), SETFACL_SAMPLE.replace(/\s+/g, ''));
});

test('acl: rejects a wrong version, a torn entry and an unknown tag', () => {
  for (const bad of ['01000000', '02000000' + '0100 0600 ffff', '02000000' + '4000 0600 ffffffff', '']) {
    assert.throws(() => decodeAcl(hex(bad)), { code: 'ERR_XATTR_ACL_MALFORMED' });
  }
});

test('acl: translation moves only ACL_USER ids through uid and ACL_GROUP ids through gid', () => {
  const tr: IdTranslate = { uid: (id) => id + 100000, gid: (id) => id + 200000 };
  const r = translateAcl(hex(SETFACL_SAMPLE), tr);
  assert.ok(r.ok && r.changed);
  if (r.ok) assert.deepEqual(aclIds(decodeAcl(r.bytes)), { uids: [101000], gids: [200050] });
});

test('acl: translation reports unmapped ids and writes nothing', () => {
  const r = translateAcl(hex(SETFACL_SAMPLE), shiftBy(100000, 0, 100));
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.deepEqual(r.unmappedUids, [1000]);
    assert.deepEqual(r.unmappedGids, []);
  }
});

test('acl: identity translation returns the same bytes, unchanged', () => {
  const bytes = hex(SETFACL_SAMPLE);
  const r = translateAcl(bytes, { uid: (x) => x, gid: (x) => x });
  assert.ok(r.ok && !r.changed && r.bytes === bytes);
});

test('acl: a non-monotonic map keeps libacl order (tag, then id)', () => {
  const acl = encodeAcl([
    { tag: ACL_TAG.USER_OBJ, perm: 7, id: ACL_UNDEFINED_ID },
    { tag: ACL_TAG.USER, perm: 4, id: 1 },
    { tag: ACL_TAG.USER, perm: 2, id: 2 },
    { tag: ACL_TAG.GROUP_OBJ, perm: 5, id: ACL_UNDEFINED_ID },
    { tag: ACL_TAG.MASK, perm: 7, id: ACL_UNDEFINED_ID },
    { tag: ACL_TAG.OTHER, perm: 0, id: ACL_UNDEFINED_ID },
  ]);
  const swap: IdTranslate = { uid: (id) => (id === 1 ? 20 : id === 2 ? 10 : id), gid: (id) => id };
  const r = translateAcl(acl, swap);
  assert.ok(r.ok);
  if (r.ok)
    assert.deepEqual(
      decodeAcl(r.bytes)
        .filter((e) => e.tag === ACL_TAG.USER)
        .map((e) => [e.id, e.perm]),
      [
        [10, 2],
        [20, 4],
      ],
    );
});

test('acl: two entries landing on one id are reported as a duplicate', () => {
  const acl = encodeAcl([
    { tag: ACL_TAG.USER_OBJ, perm: 7, id: ACL_UNDEFINED_ID },
    { tag: ACL_TAG.USER, perm: 4, id: 1 },
    { tag: ACL_TAG.USER, perm: 2, id: 2 },
    { tag: ACL_TAG.GROUP_OBJ, perm: 5, id: ACL_UNDEFINED_ID },
    { tag: ACL_TAG.MASK, perm: 7, id: ACL_UNDEFINED_ID },
    { tag: ACL_TAG.OTHER, perm: 0, id: ACL_UNDEFINED_ID },
  ]);
  const r = translateAcl(acl, { uid: () => 65534, gid: (id) => id });
  assert.equal(r.ok, false);
  if (!r.ok) assert.deepEqual(r.duplicate, { tag: 'user', id: 65534 });
});

test('cap: decodes setcap v2 and setcap -n v3 bytes', () => {
  const v2 = decodeCap(hex(SETCAP_V2));
  assert.deepEqual(v2, { revision: 2, flags: 1, permitted: [0x2000, 0], inheritable: [0, 0], rootId: null });
  const v3 = decodeCap(hex(SETCAP_V3));
  assert.equal(v3.revision, 3);
  assert.equal(v3.rootId, 100000);
  assert.equal(toHex(encodeCap(v3)), SETCAP_V3);
});

test('cap: rejects sizes that do not match the revision, and unknown revisions', () => {
  for (const bad of ['01000002' + '00200000', '01000003' + '00'.repeat(16), '01000004' + '00'.repeat(16), '0100']) {
    assert.throws(() => decodeCap(hex(bad)), { code: 'ERR_XATTR_CAP_MALFORMED' });
  }
});

test('cap: translation moves the v3 rootid and leaves v2 alone', () => {
  const r3 = translateCap(hex(SETCAP_V3), (id) => id + 100000);
  assert.ok(r3.ok && r3.changed);
  if (r3.ok) assert.equal(decodeCap(r3.bytes).rootId, 200000);
  const r2 = translateCap(hex(SETCAP_V2), () => undefined);
  assert.ok(r2.ok && !r2.changed);
});

test('cap: a rootid that lands on 0 becomes revision 2, as the kernel shows it', () => {
  const r = translateCap(hex(SETCAP_V3), (id) => id - 100000);
  assert.ok(r.ok);
  if (r.ok) assert.equal(toHex(r.bytes), SETCAP_V2);
});

test('cap: with a v2 root, v2 becomes v3 as cap_convert_nscap makes it (effective bit kept, other flag bits dropped); root 0 keeps v2', () => {
  const r = translateCap(hex(SETCAP_V2), () => undefined, 100000);
  assert.ok(r.ok && r.changed);
  if (r.ok) assert.equal(toHex(r.bytes), SETCAP_V3);
  const odd = encodeCap({ revision: 2, flags: 0x00fffffe, permitted: [5, 6], inheritable: [7, 8], rootId: null });
  const scoped = translateCap(odd, () => undefined, 42);
  assert.ok(scoped.ok);
  if (scoped.ok) assert.deepEqual(decodeCap(scoped.bytes), { revision: 3, flags: 0, permitted: [5, 6], inheritable: [7, 8], rootId: 42 });
  const v1 = encodeCap({ revision: 1, flags: 1, permitted: [5, 0], inheritable: [7, 0], rootId: null });
  assert.deepEqual(decodeCap(encodeCap(namespacedCap(decodeCap(v1), 9))), {
    revision: 3,
    flags: 1,
    permitted: [5, 0],
    inheritable: [7, 0],
    rootId: 9,
  });
  const same = translateCap(hex(SETCAP_V2), () => undefined, 0);
  assert.ok(same.ok && !same.changed);
  const v3 = translateCap(hex(SETCAP_V3), (id) => id + 1, 5);
  assert.ok(v3.ok && decodeCap(v3.bytes).rootId === 100001, 'a v3 value keeps its own root');
});

test('cap: namespaceCapabilityValue (tar side) scopes v1/v2, leaves v3 and root 0 alone, reports malformed', () => {
  assert.equal(toHex(namespaceCapabilityValue(hex(SETCAP_V2), 100000)!), SETCAP_V3);
  assert.equal(toHex(namespaceCapabilityValue(hex(SETCAP_V2), 0)!), SETCAP_V2);
  assert.equal(toHex(namespaceCapabilityValue(hex(SETCAP_V3), 7)!), SETCAP_V3);
  assert.equal(namespaceCapabilityValue(Buffer.alloc(22), 7), undefined);
});

test('cap: an unmapped rootid is reported', () => {
  const r = translateCap(hex(SETCAP_V3), () => undefined);
  assert.deepEqual(r, { ok: false, unmappedUid: 100000 });
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });

test('property: decodeAcl(encodeAcl(x)) = x for well-formed entries', () => {
  const entry = fc.record({
    tag: fc.constantFrom(...Object.values(ACL_TAG)),
    perm: fc.integer({ min: 0, max: 0xffff }),
    id: u32,
  });
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 40 }), (entries: AclEntry[]) => {
      assert.deepEqual(
        decodeAcl(encodeAcl(entries)),
        entries.map((e) => ({ ...e })),
      );
    }),
  );
});

test('property: encodeCap(decodeCap(b)) = b for every valid layout', () => {
  const capBytes = fc.tuple(fc.constantFrom(1, 2, 3), u32, fc.array(u32, { minLength: 5, maxLength: 5 })).map(([rev, flags, words]) => {
    const size = { 1: 12, 2: 20, 3: 24 }[rev as 1 | 2 | 3];
    const b = new Uint8Array(size);
    const v = new DataView(b.buffer);
    v.setUint32(0, ((rev << 24) | (flags & 0xffffff)) >>> 0, true);
    for (let i = 4; i < size; i += 4) v.setUint32(i, words[i / 4 - 1], true);
    return b;
  });
  fc.assert(
    fc.property(capBytes, (b) => {
      assert.equal(toHex(encodeCap(decodeCap(b))), toHex(b));
    }),
  );
});

test('property: translating an ACL there and back restores it', () => {
  const ids = fc.uniqueArray(fc.integer({ min: 0, max: 65535 }), { maxLength: 10 });
  fc.assert(
    fc.property(ids, ids, (uids, gids) => {
      const sortedU = [...uids].sort((a, b) => a - b),
        sortedG = [...gids].sort((a, b) => a - b);
      const acl = encodeAcl([
        { tag: ACL_TAG.USER_OBJ, perm: 7, id: ACL_UNDEFINED_ID },
        ...sortedU.map((id) => ({ tag: ACL_TAG.USER, perm: 5, id })),
        { tag: ACL_TAG.GROUP_OBJ, perm: 5, id: ACL_UNDEFINED_ID },
        ...sortedG.map((id) => ({ tag: ACL_TAG.GROUP, perm: 1, id })),
        { tag: ACL_TAG.MASK, perm: 7, id: ACL_UNDEFINED_ID },
        { tag: ACL_TAG.OTHER, perm: 0, id: ACL_UNDEFINED_ID },
      ]);
      const there = translateAcl(acl, shiftBy(100000));
      assert.ok(there.ok);
      if (!there.ok) return;
      const back = translateAcl(there.bytes, shiftBy(-100000, 100000));
      assert.ok(back.ok);
      if (back.ok) assert.equal(toHex(back.bytes), toHex(acl));
    }),
  );
});

// ---- in-place id reads and rewrites (the tar side; from src/tar/xattr-ids.test.ts) ----

function acl(entries: Array<[number, number, number]>): Buffer {
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    b.writeUInt16LE(tag, 4 + 8 * i);
    b.writeUInt16LE(perm, 6 + 8 * i);
    b.writeUInt32LE(id, 8 + 8 * i);
  });
  return b;
}

test('posix_acl xattr: only ACL_USER and ACL_GROUP ids move, through their own maps', () => {
  const v = acl([
    [1, 6, 0xffffffff],
    [ACL_USER, 7, 1234],
    [4, 4, 0xffffffff],
    [ACL_GROUP, 4, 2345],
    [0x10, 7, 0xffffffff],
    [0x20, 4, 0xffffffff],
  ]);
  const out = rewritePosixAclIds(
    v,
    (id) => id + 100000,
    (id) => id + 200000,
  )!;
  assert.deepEqual(readPosixAclIds(out), { users: [101234], groups: [202345] });
  assert.equal(out.length, v.length);
  for (let i = 0; i < v.length; i++) if (!(i >= 16 && i < 20) && !(i >= 32 && i < 36)) assert.equal(out[i], v[i], `byte ${i} untouched`);
  assert.equal(readPosixAclIds(Buffer.from([1, 0, 0, 0])), undefined, 'wrong version');
  assert.equal(
    rewritePosixAclIds(
      Buffer.alloc(7),
      (x) => x,
      (x) => x,
    ),
    undefined,
    'wrong length',
  );
});

test('security.capability: v3 rootid moves, v2 has none and stays, malformed is reported', () => {
  const v3 = Buffer.alloc(24);
  v3.writeUInt32LE(0x03000001, 0);
  v3.writeUInt32LE(0x2000, 4);
  v3.writeUInt32LE(5000, 20);
  assert.deepEqual(readCapabilityRoot(v3), { kind: 'v3', rootid: 5000 });
  const out = rewriteCapabilityRoot(v3, (id) => id + 100000)!;
  assert.deepEqual(readCapabilityRoot(out), { kind: 'v3', rootid: 105000 });
  assert.ok(out.subarray(0, 20).equals(v3.subarray(0, 20)));
  const v2 = Buffer.alloc(20);
  v2.writeUInt32LE(0x02000001, 0);
  assert.deepEqual(readCapabilityRoot(v2), { kind: 'v1-v2' });
  assert.ok(rewriteCapabilityRoot(v2, () => 1)!.equals(v2));
  assert.deepEqual(readCapabilityRoot(Buffer.alloc(22)), { kind: 'malformed' });
});
