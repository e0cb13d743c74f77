import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isIdmapped, mountOf, mountsUnder, parseMountinfo } from './mountinfo.js';

const SAMPLE = [
  '27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard',
  '42 27 254:0 /tmp/img/root /tmp/with\\040space rw,relatime,idmapped master:3 - ext4 /dev/vda rw',
  '43 42 0:40 / /tmp/with\\040space/proc rw,nosuid - proc proc rw',
  '44 27 0:41 / /tmp/other rw - tmpfs tmpfs rw,size=4k',
  'garbage line',
  '',
].join('\n');

describe('mountinfo', () => {
  it('parses fields, optional fields and octal escapes (proc(5))', () => {
    const m = parseMountinfo(SAMPLE);
    assert.equal(m.length, 4, 'a malformed line is skipped');
    assert.deepEqual(m[1], {
      id: 42,
      parentId: 27,
      dev: '254:0',
      root: '/tmp/img/root',
      mountPoint: '/tmp/with space',
      options: ['rw', 'relatime', 'idmapped'],
      fsType: 'ext4',
      source: '/dev/vda',
      superOptions: ['rw'],
    });
    assert.equal(m[2].fsType, 'proc');
  });

  it('tells idmapped mounts by their per-mount option', () => {
    const m = parseMountinfo(SAMPLE);
    assert.deepEqual(m.map(isIdmapped), [false, true, false, false]);
  });

  it('lists mounts at or under a path, not siblings sharing a prefix', () => {
    const m = parseMountinfo(SAMPLE);
    assert.deepEqual(
      mountsUnder('/tmp/with space', m).map((e) => e.id),
      [42, 43],
    );
    assert.deepEqual(
      mountsUnder('/tmp/with', m).map((e) => e.id),
      [],
    );
  });

  it('finds the mount of a path by its statx mount id', () => {
    const root = mountOf('/');
    assert.equal(root.mountPoint, '/');
    assert.equal(mountOf('/proc/self').fsType, 'proc');
  });
});
