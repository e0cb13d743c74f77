import { closeDescriptor } from '../kernel/socket/unix-socket.js';

/**
 * The user namespaces the broker wrote maps for, counted per account (account.ts) for the
 * "namespaces" limit. Each is represented by the pidfd the peer sent: the
 * server polls them, and a pidfd becomes readable when its process exits,
 * which ends the count. (The namespace descriptor itself is not kept: it
 * would keep the namespace alive after its last process.)
 */
export class NamespaceTracker {
  private readonly byFd = new Map<number, string>();
  private readonly counts = new Map<string, number>();

  track(uid: string, pidfd: number): void {
    this.byFd.set(pidfd, uid);
    this.counts.set(uid, (this.counts.get(uid) ?? 0) + 1);
  }

  count(uid: string): number {
    return this.counts.get(uid) ?? 0;
  }

  /** Descriptors to poll. */
  fds(): number[] {
    return [...this.byFd.keys()];
  }

  /** The process behind pidfd has exited: forget it and close the pidfd. */
  exited(pidfd: number): void {
    const uid = this.byFd.get(pidfd);
    if (uid === undefined) return;
    this.byFd.delete(pidfd);
    const n = (this.counts.get(uid) ?? 1) - 1;
    if (n <= 0) this.counts.delete(uid);
    else this.counts.set(uid, n);
    closeDescriptor(pidfd);
  }

  closeAll(): void {
    for (const fd of [...this.byFd.keys()]) this.exited(fd);
  }
}
