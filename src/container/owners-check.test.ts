import assert from 'node:assert/strict';
import { lchownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseMap } from '../idmap/index.js';
import { checkOwners } from './owners-check.js';

const fs = (() => {
  const m = parseMap('0:300000:65536');
  return { uid: m, gid: m };
})();
const skip = process.getuid?.() !== 0 ? 'needs root to give files other owners (lchown)' : undefined;

/** A directory owned by top with entries owned as given. */
function tree(top: number, entries: number[]): { dir: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'fsidmap-owners-'));
  entries.forEach((id, i) => {
    const p = join(dir, `e${i}`);
    writeFileSync(p, '');
    lchownSync(p, id, id);
  });
  mkdirSync(join(dir, 'sub'));
  lchownSync(join(dir, 'sub'), 300000, 300000);
  lchownSync(dir, top, top);
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

describe("checking a tree's owners against its fsid map", { skip }, () => {
  it('accepts a tree stored inside the map', () => {
    const t = tree(300000, [300000, 300042, 301000]);
    try {
      assert.deepEqual(checkOwners(t.dir, fs, 'rootfs', true), []);
    } finally {
      t.done();
    }
  });
  it('refuses a top directory the map leaves out (a wrong offset), naming its owner', () => {
    const t = tree(400000, [300000]);
    try {
      assert.throws(
        () => checkOwners(t.dir, fs, 'rootfs', true),
        (e: { code?: string; context?: { unmapped?: string[] } }) => {
          assert.equal(e.code, 'ERR_FSIDMAP_UNMAPPED_IDS');
          assert.match(e.context?.unmapped?.[0] ?? '', /^\/ is 400000:400000 on disk$/);
          return true;
        },
      );
    } finally {
      t.done();
    }
  });
  it('refuses a tree whose every entry is outside the map', () => {
    const u = tree(300000, [0, 5]);
    try {
      lchownSync(join(u.dir, 'sub'), 0, 0);
      assert.throws(() => checkOwners(u.dir, fs, 'rootfs', true), { code: 'ERR_FSIDMAP_UNMAPPED_IDS' });
    } finally {
      u.done();
    }
  });
  it('only warns about a few stray entries (lost+found, a file the host left)', () => {
    const t = tree(300000, [0, 300000]);
    try {
      const w = checkOwners(t.dir, fs, 'rootfs', true);
      assert.equal(w.length, 1);
      assert.match(w[0], /\/e0 is 0:0 on disk/);
    } finally {
      t.done();
    }
  });
});
