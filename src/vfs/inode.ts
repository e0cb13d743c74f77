import { fromKid, makeKid, type IdKind } from '../userns/lookup.js';
import type { UserNamespace } from '../userns/namespace.js';

/**
 * Superblocks and inodes of the simulated VFS. Inode owners are kernel ids
 * (i_uid/i_gid), converted from the raw on-disk ids through the
 * superblock's s_user_ns (make_kuid): for a disk filesystem mounted by host
 * root that is the initial namespace, so kernel id = on-disk id.
 */

/**
 * `ordinary` filesystems use fsid maps (ext4, xfs, tmpfs, …). `userns-visible`
 * ones (SB_I_USERNS_VISIBLE: proc, sysfs) keep using the id maps in the
 * series (FSID-v2-15 is_userns_visible()).
 */
export type SuperblockKind = 'ordinary' | 'userns-visible';
export type InodeType = 'file' | 'dir' | 'symlink';

export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_ISVTX = 0o1000;
export const S_IRWXU = 0o700;
export const S_IRWXG = 0o070;
export const S_IXUGO = 0o111;
/** S_IALLUGO: every permission bit chmod can set. */
export const S_IALLUGO = 0o7777;

export const MAY_EXEC = 1;
export const MAY_WRITE = 2;
export const MAY_READ = 4;

/** A named entry of a POSIX ACL: ACL_USER or ACL_GROUP with a kernel id. */
export interface AclEntry {
  readonly id: number;
  /** rwx as 4/2/1. */
  readonly perm: number;
}

/**
 * The extended part of a POSIX access ACL (system.posix_acl_access). The
 * rest lives in the mode, as the kernel keeps it in sync: ACL_USER_OBJ is the
 * owner bits, ACL_MASK the group bits, ACL_OTHER the other bits; only
 * ACL_GROUP_OBJ needs storing. A minimal ACL (no named entries) is just the
 * mode, so it is never stored.
 */
export interface ExtendedAcl {
  readonly users: readonly AclEntry[];
  readonly groups: readonly AclEntry[];
  readonly groupObj: number;
}

export class Superblock {
  private nextIno = 1;
  readonly root: Inode;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly kind: SuperblockKind,
    /** s_user_ns: the namespace the on-disk ids are relative to. */
    readonly userNs: UserNamespace,
    root: { uid: number; gid: number; mode: number },
  ) {
    this.root = new Inode(this.nextIno++, this, 'dir', root.uid, root.gid, root.mode, null);
  }

  /** A new inode owned by the given kernel ids. */
  newInode(type: InodeType, uid: number, gid: number, mode: number, parent: Inode | null): Inode {
    return new Inode(this.nextIno++, this, type, uid, gid, mode, parent);
  }

  /** make_kuid(s_user_ns, raw): the kernel id of an on-disk id, or undefined if s_user_ns cannot map it. */
  kidOfDisk(kind: IdKind, raw: number): number | undefined {
    return makeKid(this.userNs, kind, raw);
  }

  /** from_kuid(s_user_ns, kid): the on-disk id the filesystem writes for a kernel id. */
  diskOfKid(kind: IdKind, kid: number): number | undefined {
    return fromKid(this.userNs, kind, kid);
  }
}

export class Inode {
  /** For symlinks: the target text (never followed by the model). */
  target: string | null = null;
  acl: ExtendedAcl | null = null;
  readonly children: Map<string, Inode> | null;

  constructor(
    readonly ino: number,
    readonly sb: Superblock,
    readonly type: InodeType,
    /** i_uid / i_gid: kernel ids. */
    public uid: number,
    public gid: number,
    /** Permission bits with setuid/setgid/sticky (0o7777); the type is `type`. */
    public mode: number,
    readonly parent: Inode | null,
  ) {
    this.children = type === 'dir' ? new Map() : null;
  }

  get isDir(): boolean {
    return this.type === 'dir';
  }

  /** IS_POSIXACL(inode) with an extended ACL present. */
  get hasAcl(): boolean {
    return this.acl !== null;
  }

  /** Owner as stored on disk (what `ls -n` prints on the host). */
  get diskUid(): number | undefined {
    return this.sb.diskOfKid('uid', this.uid);
  }

  get diskGid(): number | undefined {
    return this.sb.diskOfKid('gid', this.gid);
  }
}

/** "drwxr-sr-x" style text for a type and mode. */
export function modeString(type: InodeType, mode: number): string {
  const t = type === 'dir' ? 'd' : type === 'symlink' ? 'l' : '-';
  const bit = (m: number, c: string) => (mode & m ? c : '-');
  const x = (xm: number, sm: number, on: string, off: string) => (mode & sm ? (mode & xm ? on : off) : bit(xm, 'x'));
  return (
    t +
    bit(0o400, 'r') +
    bit(0o200, 'w') +
    x(0o100, S_ISUID, 's', 'S') +
    bit(0o040, 'r') +
    bit(0o020, 'w') +
    x(0o010, S_ISGID, 's', 'S') +
    bit(0o004, 'r') +
    bit(0o002, 'w') +
    x(0o001, S_ISVTX, 't', 'T')
  );
}

export function octal(mode: number): string {
  return '0' + mode.toString(8).padStart(3, '0');
}
