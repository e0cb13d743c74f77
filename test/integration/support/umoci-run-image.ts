import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { copyProgram } from '../../../src/container/sample-image.js';
import { sh } from '../../support/tar-fixtures.js';

/**
 * A runnable image built with Debian's umoci for the run --image tests, and
 * one listing script run both inside a container and on the host over
 * `umoci unpack` of the same image, so the two views are compared by the
 * same programs (find, sha256sum, getfattr: copied into the image with
 * their libraries, so the container has them too).
 *   layer 1 (umoci repack): the tools; files with owners 1000:1001, 0:42
 *     (0640), 70:70; setuid, setgid and sticky modes; relative and absolute
 *     symlinks; a hard link; a user xattr, a file capability, a POSIX ACL;
 *     a fifo and a device; a file and a directory deleted later; /opq with
 *     old contents;
 *   layer 2 (umoci repack): the file and the directory deleted (whiteouts),
 *     a changed file with a changed xattr, a chown, a new file;
 *   layer 3 (umoci raw add-layer of a hand tar): /opq opaque with one new file.
 */
export const TOOLS = [
  'sh',
  'find',
  'sha256sum',
  'getfattr',
  'cat',
  'rm',
  'mkdir',
  'chown',
  'chmod',
  'stat',
  'ln',
  'setfattr',
  'touch',
  'id',
];

export const umociRunSkip: string | false =
  process.getuid?.() !== 0
    ? 'needs root'
    : ([...TOOLS, 'umoci', 'skopeo', 'setcap', 'setfacl'].find((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0) ?? false);

export function buildRunnableUmociImage(dir: string, tag = 'v1'): string {
  const layout = join(dir, 'oci');
  const q = (s: string) => `'${s}'`;
  mkdirSync(dir, { recursive: true });
  sh(`set -e
    umoci init --layout ${q(layout)}
    umoci new --image ${q(layout)}:${tag}
    umoci config --image ${q(layout)}:${tag} --config.cmd /bin/sh --config.env PATH=/usr/bin:/bin --config.workingdir /
    umoci unpack --image ${q(layout)}:${tag} ${q(dir)}/b1 >/dev/null`);
  const root = join(dir, 'b1', 'rootfs');
  for (const p of TOOLS) copyProgram(root, p);
  sh(`set -e
    cd ${q(root)}
    ln -s usr/bin bin
    mkdir -p etc home/u opq/sub gone-dir/inner srv/setgid srv/sticky root
    printf 'root:x:0:0:root:/root:/bin/sh\\nu:x:1000:1001::/home/u:/bin/sh\\n' > etc/passwd
    printf 'root:x:0:\\nshadow:x:42:\\nu:x:1001:\\n' > etc/group
    echo hello > etc/hello; echo secret > etc/shadow; chmod 640 etc/shadow; chown 0:42 etc/shadow
    printf '#!/bin/sh\\n' > srv/su; chmod 4755 srv/su
    chmod 2775 srv/setgid; chown 0:50 srv/setgid; chmod 1777 srv/sticky; chmod 700 root
    echo mine > home/u/f; chown -R 1000:1001 home/u; chmod 700 home/u
    echo seventy > srv/seventy; chown 70:70 srv/seventy
    ln -s ../etc/hello link-rel; ln -s /etc/hello link-abs; ln etc/hello hard
    setfattr -n user.note -v layer1 etc/hello
    printf 'x' > srv/ping; chmod 755 srv/ping; setcap cap_net_raw+ep srv/ping
    echo acl > etc/acl; setfacl -m u:1234:rw- etc/acl
    mknod srv/null c 1 3; chmod 666 srv/null; mkfifo srv/fifo
    echo gone > gone; echo x > gone-dir/inner/x; echo old > opq/sub/old; echo keep > opq/keep
    cd - >/dev/null
    umoci repack --image ${q(layout)}:${tag} ${q(dir)}/b1
    umoci unpack --image ${q(layout)}:${tag} ${q(dir)}/b2 >/dev/null
    cd ${q(dir)}/b2/rootfs
    rm gone; rm -rf gone-dir; echo changed > etc/hello; setfattr -n user.note -v layer2 etc/hello
    chown 5:5 etc/acl; echo new > new
    cd - >/dev/null
    umoci repack --image ${q(layout)}:${tag} ${q(dir)}/b2
    mkdir -p ${q(dir)}/l3/opq; touch ${q(dir)}/l3/opq/.wh..wh..opq; echo fresh > ${q(dir)}/l3/opq/fresh
    tar --numeric-owner --sort=name -C ${q(dir)}/l3 -cf ${q(dir)}/l3.tar opq
    umoci raw add-layer --image ${q(layout)}:${tag} ${q(dir)}/l3.tar
    rm -rf ${q(dir)}/b1 ${q(dir)}/b2 ${q(dir)}/l3 ${q(dir)}/l3.tar`);
  return layout;
}

/**
 * The listing: every entry under the current directory (but the mount
 * points the runtime covers: proc, dev, tmp) with type, mode, owner, link
 * target, inode and link count; then content digests; then every xattr.
 * Run with sh -c from the directory to list.
 */
export const LIST_SCRIPT = `P='( -path ./proc -o -path ./dev -o -path ./tmp ) -prune -o'
echo '== entries'; find . $P -printf '%p|%y|%m|%U:%G|%l|%i|%n\\n'
echo '== sums'; find . $P -type f -exec sha256sum {} +
echo '== xattrs'; find . $P ! -type l -exec getfattr -h -d -m - -e hex {} + 2>/dev/null
echo '== end'`;

/**
 * The listing as comparable lines: sorted, inode numbers replaced by the
 * first path of their hard-link group (inode numbers differ between trees),
 * directories' link counts left out (overlay counts them its own way),
 * overlayfs's own xattrs dropped.
 */
export function normalizeListing(out: string): string[] {
  const part = (name: string) => {
    const m = new RegExp(`^== ${name}\\n([\\s\\S]*?)^== `, 'm').exec(out);
    if (!m) throw new Error(`no "${name}" part in the listing:\n${out.slice(0, 2000)}`);
    return m[1]
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.replace(/(^|\s|# file: )\.\//g, '$1'));
  };
  const entries = part('entries')
    .map((l) => l.split('|'))
    .filter(([p]) => p !== '.' && p !== '')
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const firstOf = new Map<string, string>();
  const lines: string[] = [];
  for (const [p, type, mode, owner, link, ino, nlink] of entries) {
    let group = '';
    if (type === 'f' && Number(nlink) > 1) {
      if (!firstOf.has(ino)) firstOf.set(ino, p);
      group = ` links=${nlink} group=${firstOf.get(ino)}`;
    }
    lines.push(`${p} ${type} ${mode} ${owner}${link ? ` -> ${link}` : ''}${group}`);
  }
  for (const l of part('sums')) {
    const [sum, ...rest] = l.split(/\s+/);
    lines.push(`sum ${rest.join(' ')} ${sum}`);
  }
  let file = '';
  for (const l of part('xattrs')) {
    if (l.startsWith('# file: ')) file = l.slice(8);
    else if (!/^(user|trusted)\.overlay\./.test(l)) lines.push(`xattr ${file} ${l}`);
  }
  return lines.sort();
}

/** The listing of a directory of the host (the same programs, the host's own copies). */
export function listHostTree(root: string): string[] {
  const r = spawnSync('sh', ['-c', LIST_SCRIPT], { cwd: root, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`listing ${root} failed: ${r.stderr}`);
  return normalizeListing(r.stdout);
}
