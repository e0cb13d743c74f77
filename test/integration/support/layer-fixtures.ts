import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getXattr, listXattrs, setXattr } from '../../../src/kernel/file/xattr.js';
import type { ImageSpec } from '../../../src/container/index.js';
import { makeToyImage } from './run-fixtures.js';

/**
 * Image layers as the image store keeps them (owners as the tar says, at
 * the image's own ids; whiteouts in overlayfs form: a 0/0 character device
 * for a deleted name, user.overlay.opaque "y" on a directory whose lower
 * contents are hidden), made here with real files:
 *   l1: the toy image (sh and coreutils, /etc/passwd with root and alice, /opt/seven 7:7),
 *       /data/old and /data/keep;
 *   l2: /etc/motd "layer2", /opt/seven deleted (whiteout), /data opaque with /data/new only,
 *       /home/alice/notes owned by alice (1000).
 */
export function makeLayers(dir: string): { l1: string; l2: string } {
  const l1 = join(dir, 'l1'),
    l2 = join(dir, 'l2');
  mkdirSync(l1);
  makeToyImage(l1, 0);
  writeFileSync(join(l1, 'data/old'), 'old\n');
  writeFileSync(join(l1, 'data/keep'), 'keep\n');
  for (const d of ['etc', 'opt', 'data', 'home/alice']) mkdirSync(join(l2, d), { recursive: true });
  writeFileSync(join(l2, 'etc/motd'), 'layer2\n');
  execFileSync('mknod', ['-m', '000', join(l2, 'opt/seven'), 'c', '0', '0']);
  setXattr(join(l2, 'data'), 'user.overlay.opaque', Buffer.from('y'));
  writeFileSync(join(l2, 'data/new'), 'new\n');
  writeFileSync(join(l2, 'home/alice/notes'), 'alice\n');
  lchownSync(join(l2, 'home/alice'), 1000, 1000);
  lchownSync(join(l2, 'home/alice/notes'), 1000, 1000);
  return { l1, l2 };
}

export function imageOf(layers: readonly string[], config: ImageSpec['config'] = {}, digest = 'sha256:' + '1'.repeat(64)): ImageSpec {
  return { ref: 'toy:latest', digest, config, layers: layers.map((path, i) => ({ diffId: `sha256:${String(i).repeat(64)}`, path })) };
}

/** A checksum of a whole tree: every entry's path, type, mode, owner, size, content, link target, rdev and xattrs. */
export function treeSum(root: string): string {
  const h = createHash('sha256');
  const walk = (rel: string) => {
    const p = join(root, rel);
    const st = lstatSync(p);
    h.update(`${rel}\0${st.mode}\0${st.uid}\0${st.gid}\0${st.size}\0${st.rdev}\0${st.mtimeMs}\0`);
    for (const x of listXattrs(p).sort()) h.update(`${x}=${getXattr(p, x)?.toString('hex')}\0`);
    if (st.isSymbolicLink()) h.update(readlinkSync(p));
    else if (st.isFile()) h.update(readFileSync(p));
    else if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(rel === '' ? n : `${rel}/${n}`);
  };
  walk('');
  return h.digest('hex');
}
