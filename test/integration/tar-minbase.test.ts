import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readTarEntries } from '../../src/tar-io/read-entries.js';
import {
  CLI,
  cleanup,
  dataDigest,
  extract,
  fsidmap,
  have,
  isRoot,
  listing,
  minbaseTarball,
  run,
  snapshot,
  tempRoot,
} from '../support/tar-fixtures.js';

/**
 * A real image: Debian bookworm minbase as mmdebstrap builds it (about 8,700
 * entries: files, directories, symlinks, hard links, device nodes). Shifted
 * with fsidmap and with mmtarfilter --idshift, unpacked with fsidmap and
 * extracted with GNU tar, read back as image entries.
 */
const OFFSET = 100000;
const MAP = `0:${OFFSET}:65536`;

const skip = !isRoot
  ? 'needs root (mmdebstrap in root mode, tar --same-owner, mknod)'
  : !have('mmdebstrap') || !have('mmtarfilter')
    ? 'mmdebstrap missing (Debian package mmdebstrap; npm test installs it as root)'
    : false;

describe('tar: Debian minbase tarball from mmdebstrap', { skip }, () => {
  let root = '';
  let image = '';
  const p = (name: string): string => join(root, name);
  before(() => {
    image = minbaseTarball();
    root = tempRoot('fsidmap-tar-minbase');
    const out = openSync(p('fs.tar'), 'w');
    try {
      const r = fsidmap(['tar', 'shift', MAP], { stdio: [openSync(image, 'r'), out, 'pipe'] });
      assert.equal(r.status, 0, r.stderr);
    } finally {
      closeSync(out);
    }
    run('sh', ['-c', `mmtarfilter --idshift ${OFFSET} < "$1" > "$2"`, 'sh', image, p('mm.tar')]);
  });
  after(() => cleanup(root));

  test("fsidmap and mmtarfilter --idshift list the same archive, and data bytes are the input's", () => {
    const fs = listing(p('fs.tar'));
    assert.equal(fs, listing(p('mm.tar')));
    assert.ok(fs.split('\n').length > 5000);
    assert.doesNotMatch(fs, /^\S+ 0\/0 /m, 'no entry left at 0/0');
    assert.equal(dataDigest(p('fs.tar')), dataDigest(image));
  });

  test('GNU tar extracts the same tree from both shifted archives', () => {
    extract(p('fs.tar'), p('x-fs'));
    extract(p('mm.tar'), p('x-mm'));
    const fs = snapshot(p('x-fs'));
    assert.deepEqual(fs.entries, snapshot(p('x-mm')).entries);
    assert.match(fs.entries.join('\n'), new RegExp(`^usr/bin/passwd f 4755 ${OFFSET}:${OFFSET} `, 'm'));
  });

  test('tar unpack gives the tree GNU tar extracts from the shifted archive, also when resumed after kill -9', async () => {
    const want = snapshot(p('x-fs'));
    const r = fsidmap(['tar', 'unpack', MAP, image, p('x-unpack')]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(snapshot(p('x-unpack')).entries, want.entries);
    // Interrupt an unpack part way (SIGKILL: no cleanup runs), then run the same command again.
    const child = spawn(process.execPath, [CLI, 'tar', 'unpack', MAP, image, p('x-resumed')], { stdio: 'ignore' });
    for (let i = 0; i < 500 && !(existsSync(p('x-resumed/usr')) && readdirSync(p('x-resumed/usr')).length > 2); i++)
      await new Promise((res) => setTimeout(res, 10));
    child.kill('SIGKILL');
    await new Promise((res) => child.once('exit', res));
    const partial = snapshot(p('x-resumed')).entries.length;
    assert.ok(partial > 1 && partial < want.entries.length, `killed part way (${partial} of ${want.entries.length} entries)`);
    const again = fsidmap(['tar', 'unpack', MAP, image, p('x-resumed')]);
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(snapshot(p('x-resumed')).entries, want.entries);
  });

  test('readTarEntries yields every member with the owner, mode and type GNU tar lists', async () => {
    const types: Record<string, string> = { file: '-', dir: 'd', symlink: 'l', hardlink: 'h', char: 'c', block: 'b', fifo: 'p' };
    const mine: string[] = [];
    for await (const e of readTarEntries(p('fs.tar'))) {
      mine.push(`${types[e.type]} ${e.uid}/${e.gid} ${e.path}${e.type === 'symlink' ? ` -> ${e.linkTarget}` : ''}`);
    }
    const theirs = listing(p('fs.tar'))
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const m = /^(\S+) (\S+)\s+\S+(?: \S+)? \d{4}-\d\d-\d\d \d\d:\d\d (.*)$/.exec(l);
        assert.ok(m, l);
        const name = m[3]
          .replace(/ link to .*$/, '')
          .replace(/^\.\//, '')
          .replace(/\/$/, '');
        return `${m[1][0]} ${m[2]} ${name === '.' || name === '' ? '.' : name}`;
      });
    assert.deepEqual(mine, theirs);
  });
});
