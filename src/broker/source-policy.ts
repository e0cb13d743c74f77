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
 * - The source itself must be a directory or regular file owned by one of
 *   the peer's uids (own or delegated), never root's or another user's: a
 *   mount of /etc or of someone else's home is refused.
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
  readonly rule: 'untrusted-fs' | 'symlink' | 'not-a-directory' | 'unsafe-parent' | 'not-owned' | 'source-type';
  readonly reason: string;
}

const UNTRUSTED_FS = /^(fuse(\..*)?|fuseblk|nfs4?|cifs|smb3|9p|afs|ceph|glusterfs|sshfs|davfs|virtiofs|ncpfs|coda)$/;

export function inspectComponent(c: ComponentFacts, owned: OwnedIds, peerUid: number): ComponentRefusal | null {
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
  if (c.type !== 'directory' && c.type !== 'file') return { rule: 'source-type', reason: 'is neither a directory nor a regular file' };
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
