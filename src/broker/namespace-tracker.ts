import { closeDescriptor } from '../kernel/socket/unix-socket.js';
import { type NsHandle, nsHandleAlive } from '../kernel/userns/ns-handle.js';

/**
 * The user namespaces the broker wrote maps for, counted per account
 * (account.ts) for the "namespaces" limit. A namespace counts for as long
 * as it exists, not as long as the process the peer named: a peer could
 * name a short-lived process of a namespace that lives on in others, with
 * its maps written. So each entry is the namespace's inode; the pidfd the
 * peer sent is polled only as a hint — when its process exits, the entry
 * becomes *suspect*, and the next census of the host's namespaces
 * (src/userns-census; taken when the account asks or hits its limit, and
 * periodically) removes it if the namespace is gone. Where the kernel gives
 * the namespace a file handle (Linux 6.18), the kernel itself is asked
 * instead: a handle opens for as long as the namespace exists, whoever keeps
 * it — a descriptor in flight in a socket's queue included, which no census
 * sees. (The namespace descriptor is not kept: it would keep the namespace
 * alive.)
 */
interface Entry {
  readonly account: string;
  pidfd: number | null;
  suspect: boolean;
  readonly handle: NsHandle | null;
}

export class NamespaceTracker {
  private readonly byInode = new Map<number, Entry>();
  private readonly byFd = new Map<number, number>();

  track(account: string, inode: number, pidfd: number, handle: NsHandle | null = null): void {
    const old = this.byInode.get(inode);
    if (old?.pidfd != null) this.exited(old.pidfd);
    this.byInode.set(inode, { account, pidfd, suspect: false, handle });
    this.byFd.set(pidfd, inode);
  }

  count(account: string): number {
    let n = 0;
    for (const e of this.byInode.values()) if (e.account === account) n++;
    return n;
  }

  /** Whether some namespace of the account (or of anyone) has lost the process it was named by. */
  hasSuspects(account?: string): boolean {
    for (const e of this.byInode.values()) if (e.suspect && (account === undefined || e.account === account)) return true;
    return false;
  }

  /** Whether some suspect has no handle, so that only a census can tell whether it is gone. */
  needsCensus(account?: string): boolean {
    for (const e of this.byInode.values())
      if (e.suspect && e.handle === null && (account === undefined || e.account === account)) return true;
    return false;
  }

  /** Descriptors to poll. */
  fds(): number[] {
    return [...this.byFd.keys()];
  }

  /** The process behind pidfd has exited: its namespace may live on, so it is suspect until a census says. */
  exited(pidfd: number): void {
    const inode = this.byFd.get(pidfd);
    if (inode === undefined) return;
    this.byFd.delete(pidfd);
    closeDescriptor(pidfd);
    const e = this.byInode.get(inode);
    if (e && e.pidfd === pidfd) {
      e.pidfd = null;
      e.suspect = true;
    }
  }

  /**
   * Forgets the suspect namespaces that are gone: by handle where there is
   * one (the kernel's answer), else those a census did not find (alive:
   * every user-namespace inode on the host; null: no census, keep them).
   */
  prune(alive: ReadonlySet<number> | null): void {
    for (const [inode, e] of this.byInode) {
      if (!e.suspect) continue;
      const gone = e.handle !== null ? nsHandleAlive(e.handle) === false : alive !== null && !alive.has(inode);
      if (gone) this.byInode.delete(inode);
    }
  }

  closeAll(): void {
    for (const fd of [...this.byFd.keys()]) closeDescriptor(fd);
    this.byFd.clear();
    this.byInode.clear();
  }
}
