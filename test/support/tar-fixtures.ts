import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
  linkSync,
  openSync,
  writeSync,
  closeSync,
  lchownSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Shared by the tar integration tests: running the real peers (GNU tar,
 * mmtarfilter, setfacl, setcap, mmdebstrap) and the fsidmap binary, making
 * fixture trees, and snapshotting extracted trees for comparison.
 */
export const isRoot = process.getuid?.() === 0;
export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Runs a command; throws with its stderr when it fails. Returns stdout. */
export function run(cmd: string, args: string[], opts: SpawnSyncOptions & { okStatus?: number[] } = {}): Buffer {
  const r = spawnSync(cmd, args, { maxBuffer: 1 << 30, ...opts });
  if (r.error) throw r.error;
  if (!(opts.okStatus ?? [0]).includes(r.status ?? -1)) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${String(r.stderr).slice(0, 2000)}`);
  }
  return r.stdout as Buffer;
}

export function sh(script: string, opts: SpawnSyncOptions = {}): string {
  return run('sh', ['-c', script], opts).toString('utf8');
}

export function fsidmap(args: string[], opts: SpawnSyncOptions = {}): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { maxBuffer: 1 << 30, ...opts });
  return { status: r.status ?? -1, stdout: r.stdout as Buffer, stderr: String(r.stderr) };
}

export interface TreeFeatures {
  /** Names and link targets longer than 100 bytes (GNU 'L'/'K' or PAX path/linkpath; ustar cannot). */
  readonly longNames?: boolean;
  /** Ids above 2097151 (not for ustar). */
  readonly bigIds?: boolean;
  /** setfacl'd files and a default ACL. */
  readonly acls?: boolean;
  /** setcap'd files, v2 and v3. */
  readonly caps?: boolean;
  readonly sparse?: boolean;
}

export const MTIME = 1700000000;

/**
 * A fixture tree whose every id is `base + id`: build it at base 0 to archive
 * and shift, and at the shift's offset for GNU tar's own rendering of the
 * expected result. Owners, modes, names and times are otherwise identical.
 */
export function makeTree(root: string, base: number, f: TreeFeatures): void {
  const own = (p: string, uid: number, gid: number): void => lchownSync(join(root, p), base + uid, base + gid);
  const file = (p: string, data: string | Buffer, uid: number, gid: number, mode = 0o644): void => {
    writeFileSync(join(root, p), data);
    own(p, uid, gid);
    chmodSync(join(root, p), mode);
  };
  const dir = (p: string, uid: number, gid: number, mode = 0o755): void => {
    mkdirSync(join(root, p));
    own(p, uid, gid);
    chmodSync(join(root, p), mode);
  };
  mkdirSync(root, { recursive: true });
  own('.', 0, 0);
  dir('etc', 0, 0);
  file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n', 0, 0);
  file('etc/shadow', 'root:*:19000::::::\n', 0, 42, 0o640);
  dir('home', 0, 0);
  dir('home/user', 1000, 1000, 0o750);
  file('home/user/notes.txt', 'some notes\n'.repeat(300), 1000, 1000);
  file('home/user/empty', '', 1000, 100);
  dir('usr', 0, 0);
  dir('usr/bin', 0, 0);
  file('usr/bin/su', Buffer.alloc(3000, 1), 0, 0, 0o4755);
  file('usr/bin/wall', Buffer.alloc(100, 2), 0, 5, 0o2755);
  dir('tmp', 0, 0, 0o1777);
  dir('srv', 33, 33, 0o2775);
  file('srv/index.html', '<html></html>\n', 33, 33);
  // Without longNames the path still passes 100 bytes, split into ustar's prefix and name fields.
  const longDir = 'srv/' + 'd'.repeat(90);
  dir(longDir, 33, 33);
  file(`${longDir}/${'f'.repeat(f.longNames ? 120 : 60)}`, 'long name\n', 33, 33);
  symlinkSync('x'.repeat(f.longNames ? 150 : 99), join(root, 'srv/long-link'));
  own('srv/long-link', 33, 33);
  symlinkSync('../etc/passwd', join(root, 'home/user/passwd-link'));
  own('home/user/passwd-link', 1000, 1000);
  file('usr/bin/hard-a', 'linked\n', 2, 2, 0o755);
  linkSync(join(root, 'usr/bin/hard-a'), join(root, 'usr/bin/hard-b'));
  run('mkfifo', ['-m', '0600', join(root, 'tmp/fifo')]);
  own('tmp/fifo', 7, 7);
  run('mknod', ['-m', '0666', join(root, 'tmp/null'), 'c', '1', '3']);
  own('tmp/null', 0, 0);
  file('nobody-file', 'n\n', 65534, 65534);
  if (f.bigIds) {
    file('big-ids', 'big\n', 3000000, 4000000);
    dir('big-dir', 2097151, 2097152);
  }
  if (f.sparse) {
    const p = join(root, 'sparse.img');
    writeFileSync(p, '');
    truncateSync(p, 20 * 1024 * 1024);
    const fd = openSync(p, 'r+');
    writeSync(fd, Buffer.from('middle of nowhere'), 0, 17, 10 * 1024 * 1024);
    writeSync(fd, Buffer.from('the end'), 0, 7, 20 * 1024 * 1024 - 7);
    closeSync(fd);
    own('sparse.img', 1000, 1000);
  }
  if (f.acls) {
    file('acl-file', 'acl\n', 0, 0);
    run('setfacl', ['-m', `u:${base + 1234}:rwx,g:${base + 2345}:r,u:${base === 0 ? 'daemon' : base + 1}:r`, join(root, 'acl-file')]);
    dir('acl-dir', 0, 0);
    run('setfacl', ['-m', `u:${base + 1234}:rx`, '-d', '-m', `u:${base + 1234}:rwx,g:${base + 2345}:rx`, join(root, 'acl-dir')]);
  }
  if (f.caps) {
    file('cap-v2', Buffer.alloc(64, 3), 0, 0, 0o755);
    // At base 0 a v2 capability; at another base what the kernel stores when that v2 value is
    // written inside the namespace whose root is base (v3, rootid base): what a shift gives.
    run('setcap', [...(base === 0 ? [] : ['-n', String(base)]), 'cap_net_raw+ep', join(root, 'cap-v2')]);
    file('cap-v3', Buffer.alloc(64, 4), 0, 0, 0o755);
    run('setcap', ['-n', String(base + 1000), 'cap_net_bind_service+ep', join(root, 'cap-v3')]);
  }
  // Fixed times last: creating children changes directory mtimes.
  run('find', [root, '-exec', 'touch', '-h', '-d', `@${MTIME}`, '{}', '+']);
}

/** GNU tar options that make two archives of equal trees comparable. */
export const TAR_CREATE = ['--sort=name', '--numeric-owner', `--mtime=@${MTIME}`];

export function listing(archive: string, extra: string[] = [], okStatus = [0]): string {
  return run('tar', ['--numeric-owner', ...extra, '-tvf', archive], { okStatus }).toString('utf8');
}

export function extract(archive: string, into: string): void {
  mkdirSync(into, { recursive: true });
  run('tar', [
    '--numeric-owner',
    '--same-owner',
    '--same-permissions',
    '--acls',
    '--xattrs',
    '--xattrs-include=*',
    '-xf',
    archive,
    '-C',
    into,
  ]);
}

export interface Snapshot {
  readonly entries: string[];
  /** getfacl -n output, one block per file, sorted by path. */
  readonly acls: string[];
  readonly caps: string;
  /** Paths of files stored with holes. */
  readonly sparse: string[];
}

/** Everything a shifted tree must agree on: type, owner, mode, times, data digests, link targets, devices, hard-link groups, ACLs, capabilities. */
export function snapshot(root: string): Snapshot {
  const entries: string[] = [];
  const inodes = new Map<number, string>();
  const sparse: string[] = [];
  const walk = (rel: string): void => {
    const abs = rel === '.' ? root : join(root, rel);
    const st = lstatSync(abs);
    const type = st.isDirectory()
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
    if (type === 'f') {
      const first = inodes.get(st.ino);
      if (first !== undefined) extra = `hardlink-of=${first}`;
      else {
        inodes.set(st.ino, rel);
        extra = `size=${st.size} sha256=${createHash('sha256').update(readFileSync(abs)).digest('hex')}`;
        if (st.size > 1 << 20 && st.blocks * 512 < st.size / 2) sparse.push(rel);
      }
    } else if (type === 'l') extra = `-> ${readlinkSync(abs)}`;
    else if (type === 'c' || type === 'b') extra = `rdev=${st.rdev}`;
    entries.push(`${rel} ${type} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} mtime=${Math.floor(st.mtimeMs / 1000)} ${extra}`);
    if (type === 'd') for (const name of readdirSync(abs).sort()) walk(rel === '.' ? name : `${rel}/${name}`);
  };
  walk('.');
  // getfacl walks in readdir order, which differs between two trees: sort its per-file blocks.
  const acls = run('getfacl', ['-R', '-P', '-n', '-p', '.'], { cwd: root, okStatus: [0, 1] })
    .toString('utf8')
    .split('\n\n')
    .map((b) => b.trim())
    .filter(Boolean)
    .sort();
  const caps = run('getcap', ['-n', '-r', '.'], { cwd: root, okStatus: [0, 1] })
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .sort()
    .join('\n');
  return { entries, acls, caps, sparse };
}

/** A fresh directory under os.tmpdir() for one test file; removed by `cleanup`. */
export function tempRoot(prefix: string): string {
  const dir = join(tmpdir(), `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dir, { recursive: false });
  return dir;
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * A Debian bookworm minbase tarball made by mmdebstrap, built once and then
 * reused from os.tmpdir() by every test file and run (about 15 s from the
 * Debian mirror). Built into a temporary name and renamed, so a half-built
 * file is never picked up.
 */
export function minbaseTarball(): string {
  const path = join(tmpdir(), 'fsidmap-test-minbase-bookworm.tar');
  if (existsSync(path) && statSync(path).size > 10 << 20) return path;
  const temp = `${path}.${process.pid}.tmp.tar`;
  try {
    run('mmdebstrap', ['--quiet', '--variant=minbase', 'bookworm', temp], { stdio: ['ignore', 'ignore', 'pipe'] });
    renameSync(temp, path);
  } finally {
    rmSync(temp, { force: true });
  }
  return path;
}

export function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The concatenated data of every regular member, as GNU tar extracts it to stdout. */
export function dataDigest(archive: string): string {
  return createHash('sha256')
    .update(run('tar', ['-xOf', archive]))
    .digest('hex');
}
