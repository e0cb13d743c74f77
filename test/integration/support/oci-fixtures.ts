import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { run, sh } from '../../support/tar-fixtures.js';

/**
 * OCI images built with Debian's umoci (a peer no one here wrote), for the
 * image store's tests: three layers with files, owners, setuid/setgid/sticky
 * modes, symlinks (relative and absolute), hard links, a device and a fifo,
 * user xattrs, a file capability, a POSIX ACL, ids above 65535, then
 * deletions by whiteouts (a file, a directory), a changed file, and a
 * hand-made layer (umoci raw add-layer) with an opaque directory.
 */
export const umociSkip: string | false =
  process.getuid?.() !== 0
    ? 'needs root'
    : (['umoci', 'skopeo', 'setfattr', 'setcap', 'setfacl'].find((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0) ?? false);

export function buildUmociImage(dir: string, layout = join(dir, 'oci'), tag = 'v1'): string {
  mkdirSync(dir, { recursive: true });
  const q = (s: string) => `'${s}'`;
  sh(`set -e
    umoci init --layout ${q(layout)}
    umoci new --image ${q(layout)}:${tag}
    umoci unpack --image ${q(layout)}:${tag} ${q(dir)}/b1 >/dev/null
    cd ${q(dir)}/b1/rootfs
    mkdir -p etc home/u opq/sub gone-dir/inner tmp bin dev srv/setgid
    echo hello > etc/hello; echo secret > etc/shadow; chmod 640 etc/shadow; chown 0:42 etc/shadow
    printf '#!/bin/sh\\n' > bin/su; chmod 4755 bin/su
    chmod 2775 srv/setgid; chown 0:50 srv/setgid; chmod 1777 tmp
    echo mine > home/u/f; chown -R 1000:1001 home/u; chmod 700 home/u
    echo big > home/big; chown 70000:70001 home/big
    ln -s ../etc/hello link-rel; ln -s /etc/hello link-abs; ln etc/hello hard
    setfattr -n user.note -v layer1 etc/hello
    printf 'x' > bin/ping; chmod 755 bin/ping; setcap cap_net_raw+ep bin/ping
    echo acl > etc/acl; setfacl -m u:1234:rw- etc/acl
    mknod dev/null c 1 3; chmod 666 dev/null; mkfifo tmp/fifo
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
  `);
  return layout;
}

/** umoci's own unpack of the image: the tree every reader must agree with. */
export function umociUnpack(layout: string, tag: string, bundle: string): string {
  run('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);
  return join(bundle, 'rootfs');
}

/**
 * A tree as a reader inside a container sees it: type, mode, owner, size,
 * content digest, link target, device number, hard-link group, every xattr
 * (user.*, security.capability, POSIX ACLs) — no times (umoci sets directory
 * times after whiteouts differently from an overlay's view).
 */
export function treeView(root: string): string[] {
  const out: string[] = [];
  const inodes = new Map<number, string>();
  const walk = (rel: string): void => {
    const abs = rel === '.' ? root : join(root, rel);
    const st = lstatSync(abs);
    const t = st.isDirectory()
      ? 'd'
      : st.isSymbolicLink()
        ? 'l'
        : st.isFIFO()
          ? 'p'
          : st.isCharacterDevice()
            ? 'c'
            : st.isBlockDevice()
              ? 'b'
              : 'f';
    let extra = '';
    if (t === 'f') {
      const first = inodes.get(st.ino);
      if (first !== undefined && st.nlink > 1) extra = `hardlink-of=${first}`;
      else {
        inodes.set(st.ino, rel);
        extra = `size=${st.size} sha256=${createHash('sha256').update(readFileSync(abs)).digest('hex').slice(0, 16)}`;
      }
    } else if (t === 'l') extra = `-> ${readlinkSync(abs)}`;
    else if (t === 'c' || t === 'b') extra = `rdev=${st.rdev}`;
    const x = t === 'l' ? '' : xattrs(abs);
    if (rel !== '.') out.push(`${rel} ${t} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${extra}${x ? ` ${x}` : ''}`);
    if (t === 'd') for (const name of readdirSync(abs).sort()) walk(rel === '.' ? name : `${rel}/${name}`);
  };
  walk('.');
  return out;
}

function xattrs(abs: string): string {
  const r = spawnSync('getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', abs], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .filter((l) => l.includes('=') && !l.startsWith('user.overlay.') && !l.startsWith('trusted.overlay.'))
    .sort()
    .join(',');
}

/** Mounts the layers (lowest first) as a read-only overlay the way the runtime reads them (userxattr), runs fn on the merged tree, unmounts. */
export function withOverlay<T>(layers: readonly string[], mnt: string, fn: (merged: string) => T): T {
  mkdirSync(mnt, { recursive: true });
  const lower = [...layers].reverse().join(':');
  run('mount', ['-t', 'overlay', 'overlay', '-o', `ro,userxattr,lowerdir=${lower}`, mnt]);
  try {
    return fn(mnt);
  } finally {
    run('umount', [mnt]);
  }
}

export interface HandLayer {
  readonly tar: Buffer;
  readonly gzip?: boolean;
  /** Blob bytes to store instead of the (gzipped) tar: a corrupted or truncated blob. */
  readonly blob?: Buffer;
  readonly mediaType?: string;
  /** The diff_id to name in the config (default: the tar's real one). */
  readonly diffId?: string;
}

/**
 * An OCI layout written by hand (blobs, manifest, config, index), for bad
 * input a real tool refuses to write: digests and media types are whatever
 * the test says. Returns the layout's directory.
 */
export function writeHandLayout(dir: string, layers: readonly HandLayer[], tag = 't'): string {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer): string => {
    const hex = createHash('sha256').update(b).digest('hex');
    writeFileSync(join(blobs, hex), b);
    return `sha256:${hex}`;
  };
  const descs = layers.map((l) => {
    const bytes = l.blob ?? (l.gzip ? gzipSync(l.tar) : l.tar);
    const digest = put(bytes);
    return {
      mediaType: l.mediaType ?? (l.gzip ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar'),
      digest,
      size: bytes.length,
    };
  });
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/true'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId ?? `sha256:${createHash('sha256').update(l.tar).digest('hex')}`) },
    }),
  );
  const cd = put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: config.length },
      layers: descs,
    }),
  );
  const md = put(manifest);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: md,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  return dir;
}

/** Every path under the store except its lock and staging area, with sizes: what "the store did not change" compares. */
export function storeState(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = join(root, rel);
    let st;
    try {
      st = lstatSync(abs);
    } catch {
      return;
    }
    out.push(`${rel} ${st.isDirectory() ? 'd' : st.size}`);
    if (st.isDirectory())
      for (const n of readdirSync(abs).sort()) if (rel !== '' || (n !== 'tmp' && n !== 'lock')) walk(rel ? `${rel}/${n}` : n);
  };
  walk('');
  return out;
}
