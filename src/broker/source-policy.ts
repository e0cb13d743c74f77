import { allOwned, type OwnedIds, owns } from './owned-ids.js';

/**
 * Which directories a peer may have mounted: judged component by component
 * on what the path walk saw through its descriptors (src/kernel/file/peer-path.ts).
 * Pure.
 *
 * - Every component must sit on a local file system: FUSE and network file
 *   systems answer lookups from a server the peer may run, which could stall
 *   the broker or change answers between two looks.
 * - Every directory above the source must be owned by root or by the peer,
 *   and not writable by anyone else (unless sticky, like /tmp): otherwise a
 *   third user could move what the path names.
 * - A component whose mount the broker cannot identify (not in mountinfo,
 *   even read again at that point: a mount that appeared during the walk)
 *   is refused like FUSE: it may be one.
 * - The source itself must be a directory owned by one of the peer's uids
 *   (own or delegated), never root's or another user's: a mount of /etc or
 *   of someone else's home is refused. A regular file is refused: the
 *   locked mount is attached on a directory in the lock helper (EINVAL for a
 *   file), and a container's volumes and rootfs are directories. So is a
 *   source on a pseudo file system the kernel never idmaps (procfs, sysfs,
 *   cgroupfs, …: mount_setattr would fail with EINVAL after the walk).
 */
export interface ComponentFacts {
  readonly path: string;
  readonly type: 'directory' | 'file' | 'symlink' | 'other';
  /** Permission bits with setuid/setgid/sticky (mode & 0o7777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly fsType: string;
  readonly last: boolean;
}

export interface ComponentRefusal {
  readonly rule: 'untrusted-fs' | 'symlink' | 'not-a-directory' | 'unsafe-parent' | 'not-owned' | 'source-type' | 'no-idmap-fs';
  readonly reason: string;
}

const UNTRUSTED_FS = /^(fuse(\..*)?|fuseblk|nfs4?|cifs|smb3|9p|afs|ceph|glusterfs|sshfs|davfs|virtiofs|ncpfs|coda)$/;

/** File systems without FS_ALLOW_IDMAP that a path can lead to. */
const NO_IDMAP_FS = new Set([
  'proc',
  'sysfs',
  'cgroup',
  'cgroup2',
  'devpts',
  'debugfs',
  'tracefs',
  'securityfs',
  'pstore',
  'bpf',
  'configfs',
  'efivarfs',
  'mqueue',
  'nsfs',
  'pidfs',
  'binfmt_misc',
  'autofs',
  'fusectl',
  'rpc_pipefs',
  'selinuxfs',
  'hugetlbfs',
  'ramfs',
]);

export function inspectComponent(c: ComponentFacts, owned: OwnedIds, peerUid: number): ComponentRefusal | null {
  if (c.fsType === '?') {
    return {
      rule: 'untrusted-fs',
      reason: 'is on a mount fsidmap cannot identify (it appeared while the path was walked): it could be FUSE; try again',
    };
  }
  if (UNTRUSTED_FS.test(c.fsType)) {
    return {
      rule: 'untrusted-fs',
      reason: `is on a ${c.fsType} file system, whose answers come from a server fsidmap does not trust; keep the source on a local file system`,
    };
  }
  if (c.type === 'symlink') return { rule: 'symlink', reason: 'is a symbolic link (fsidmap never follows links in a mount source)' };
  const uids = allOwned(owned.uid);
  const gids = allOwned(owned.gid);
  const ownsUid = (id: number) => owns(uids, id);
  const ownsGid = (id: number) => owns(gids, id);
  if (!c.last) {
    if (c.type !== 'directory') return { rule: 'not-a-directory', reason: 'is not a directory' };
    const sticky = (c.mode & 0o1000) !== 0;
    if (c.uid !== 0 && !ownsUid(c.uid)) {
      return {
        rule: 'unsafe-parent',
        reason: `is owned by uid ${c.uid}, neither root nor you (uid ${peerUid}): its owner could move what the path names`,
      };
    }
    if ((c.mode & 0o002) !== 0 && !sticky) {
      return {
        rule: 'unsafe-parent',
        reason: `is writable by everyone (mode ${octal(c.mode)}) without the sticky bit: anyone could move what the path names`,
      };
    }
    if ((c.mode & 0o020) !== 0 && !sticky && c.gid !== 0 && !ownsGid(c.gid)) {
      return {
        rule: 'unsafe-parent',
        reason: `is writable by group ${c.gid} (mode ${octal(c.mode)}), which is not yours: its members could move what the path names`,
      };
    }
    return null;
  }
  if (c.type === 'file')
    return { rule: 'source-type', reason: 'is a regular file: the broker mounts directories only (mount the directory that holds it)' };
  if (c.type !== 'directory') return { rule: 'source-type', reason: 'is not a directory' };
  if (NO_IDMAP_FS.has(c.fsType)) {
    return { rule: 'no-idmap-fs', reason: `is on ${c.fsType}, which the kernel cannot idmap: mount a directory of a disk file system` };
  }
  if (!ownsUid(c.uid)) {
    const whose = c.uid === 0 ? 'root' : `uid ${c.uid}`;
    return {
      rule: 'not-owned',
      reason: `is owned by ${whose}, not by you: only a directory owned by your uid ${peerUid} or one of your delegated uids can be mounted for you`,
    };
  }
  return null;
}

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}
