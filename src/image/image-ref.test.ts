import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatImageName, nameFromFile, parseImageName } from './image-ref.js';
import { layerCompression } from './media-types.js';
import { mergeRanges, IdTally } from './id-ranges.js';

test('image names: NAME[:TAG], tag latest by default, bad ones refused with the reason', () => {
  assert.equal(formatImageName(parseImageName('debian')), 'debian:latest');
  assert.equal(formatImageName(parseImageName('tools/builder:1.2')), 'tools/builder:1.2');
  assert.equal(formatImageName(parseImageName('localhost.x/a-b_c:v1')), 'localhost.x/a-b_c:v1');
  for (const bad of ['Debian', 'a:', 'a:b:c', '-a', 'a//b', 'a:' + 'x'.repeat(129)])
    assert.throws(() => parseImageName(bad), { code: 'ERR_USAGE' }, bad);
  assert.equal(nameFromFile('Debian_Bookworm.tar.gz'), 'debian_bookworm');
  assert.equal(nameFromFile('...'), undefined);
});

test('layer media types: tar and gzip read, zstd and unknown types refused by name', () => {
  assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar', 'l'), 'none');
  assert.equal(layerCompression('application/vnd.docker.image.rootfs.diff.tar.gzip', 'l'), 'gzip');
  assert.throws(() => layerCompression('application/vnd.oci.image.layer.v1.tar+zstd', 'l'), {
    code: 'ERR_IMAGE_MEDIA_TYPE',
    message: /zstd/,
  });
  assert.throws(() => layerCompression('text/plain', 'l'), { code: 'ERR_IMAGE_MEDIA_TYPE', message: /text\/plain/ });
});

test('owner ranges: runs of ids with counts, merged across layers', () => {
  const t = new IdTally();
  for (const id of [0, 0, 1, 2, 1000, 65534]) t.add(id);
  assert.deepEqual(t.ranges(), [
    { start: 0, end: 3, entries: 4 },
    { start: 1000, end: 1001, entries: 1 },
    { start: 65534, end: 65535, entries: 1 },
  ]);
  assert.deepEqual(mergeRanges([[{ start: 0, end: 3, entries: 4 }], [{ start: 2, end: 5, entries: 1 }]]), [
    { start: 0, end: 5, entries: 5 },
  ]);
});
