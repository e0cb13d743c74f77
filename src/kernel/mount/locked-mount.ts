import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { FsidmapError } from '../../errors.js';
import { syscall, syscallError } from '../libc.js';
import { mountSetattr } from '../syscalls.js';
import { closeDescriptor, POLLIN, pollReady, receive, unixSocketPair } from '../socket/unix-socket.js';
import { AT_EMPTY_PATH, MOUNT_ATTR_IDMAP, MOUNT_ATTR_NODEV, OPEN_TREE_CLOEXEC, OPEN_TREE_CLONE } from '../linux.js';
import { nativeBuildHint, nativePath } from '../../environment.js';
export { MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY } from '../linux.js';

/**
 * The idmapped mounts the broker hands to unprivileged peers: a detached
 * copy of a directory (open_tree on the descriptor the path walk returned,
 * so the name is never resolved again), idmapped with the maps of a holder
 * namespace, always nodev, and with its flags locked by
 * native/fsidmap-mount-lock.c so the peer's own root cannot clear them.
 */

export interface LockedMountOptions {
  /** MOUNT_ATTR_* flags besides IDMAP and NODEV (which are always set). */
  readonly attrs: number;
  /** How long the lock helper may take. */
  readonly timeoutMs?: number;
}

/** The helper programs built from native/ into dist/native/ (FSIDMAP_NATIVE_DIR overrides the directory). */
export function nativeHelper(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const path = nativePath(name, env);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new FsidmapError('ERR_NATIVE_MISSING', `the helper ${path} is missing or not executable`, {
      context: { path },
      hint: nativeBuildHint(`native/${name}.c`),
    });
  }
  return path;
}

/** open_tree(fd, "", OPEN_TREE_CLONE | AT_EMPTY_PATH): a detached copy of the mount under fd, rooted at fd. */
export function cloneTreeAt(fd: number, what: string): number {
  const r = Number(syscall(428, 'int', fd, 'str', '', 'uint', OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH));
  if (r < 0) throw syscallError('open_tree', what);
  return r;
}

/** mount_setattr(fd, "", AT_EMPTY_PATH, {attr_set, userns_fd}), with what the errors most likely mean here. */
export function setMountAttrs(fd: number, attrSet: number, usernsFd: number, what: string): void {
  mountSetattr(fd, { attrSet, ...(usernsFd >= 0 ? { usernsFd } : {}) }, 0, what, {
    EINVAL: 'the file system does not support idmapped mounts (ext4, xfs, btrfs, f2fs and tmpfs do), or the source is already idmapped',
    EPERM: 'the source is already an idmapped mount, or the broker lacks CAP_SYS_ADMIN in the initial user namespace',
  });
}

/**
 * The whole sequence for one source: clone, idmap (usernsFd holds the
 * mount maps) with nodev and attrs, lock. Returns the locked detached
 * mount's descriptor; everything else made on the way is gone, on success
 * and on failure.
 */
export async function makeLockedIdmappedMount(
  sourceFd: number,
  usernsFd: number,
  what: string,
  options: LockedMountOptions,
): Promise<number> {
  const m0 = cloneTreeAt(sourceFd, what);
  try {
    setMountAttrs(m0, MOUNT_ATTR_IDMAP | MOUNT_ATTR_NODEV | options.attrs, usernsFd, what);
    return await lockMount(m0, what, options.timeoutMs ?? 5000);
  } finally {
    closeDescriptor(m0);
  }
}

/** Runs fsidmap-mount-lock on a detached mount and returns the locked clone it sends back. */
export async function lockMount(mountFd: number, what: string, timeoutMs: number): Promise<number> {
  const helper = nativeHelper('fsidmap-mount-lock');
  const [ours, theirs] = unixSocketPair();
  let child;
  try {
    child = spawn(helper, [], { stdio: ['ignore', 'ignore', 'ignore', mountFd, theirs], argv0: `fsidmap-mount-lock:${process.pid}` });
  } finally {
    closeDescriptor(theirs);
  }
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  try {
    const deadline = Date.now() + timeoutMs;
    let text = '';
    const fds: number[] = [];
    while (!text.includes('\n')) {
      const left = deadline - Date.now();
      if (left <= 0) throw new FsidmapError('ERR_MOUNT_LOCK', `locking the mount of ${what} timed out`, { context: { path: what } });
      const [rev] = await pollReady([{ fd: ours, events: POLLIN }], Math.min(left, 500));
      if (rev === 0) continue;
      const r = receive(ours, 256);
      if (r === null) continue;
      fds.push(...r.fds);
      text += r.data.toString('latin1');
      if (r.eof) break;
    }
    const line = text.split('\n')[0];
    if (line === 'ok' && fds.length === 1) return fds[0];
    for (const fd of fds) closeDescriptor(fd);
    const m = /^error (\S+) (\d+)$/.exec(line);
    throw new FsidmapError('ERR_MOUNT_LOCK', `locking the mount of ${what} failed${m ? ` at ${m[1]} (errno ${m[2]})` : ''}`, {
      context: { path: what, step: m?.[1] ?? null, errno: m ? Number(m[2]) : null },
      hint: 'the lock step needs CAP_SYS_ADMIN and user namespaces (user.max_user_namespaces > 0) for the broker, and a /tmp directory',
    });
  } finally {
    closeDescriptor(ours);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  }
}
