import { Worker } from 'node:worker_threads';

/**
 * Descriptors from peers that fsidmap will not use are closed on a thread
 * of their own (fd-quarantine-worker.ts), never on the event loop: closing a
 * file of a FUSE file system the peer serves can block until the peer
 * answers. Each descriptor is charged to the peer that sent it until its
 * close returns, so the broker can refuse a peer whose closes hang
 * (`outstanding`) without affecting anyone else.
 */
export class FdQuarantine {
  /**
   * One thread per owner with closes outstanding (up to maxThreads; owners
   * beyond share one): a close that hangs stalls only its owner's thread,
   * never another owner's closes.
   */
  private readonly workers = new Map<string, Worker>();
  private shared: Worker | null = null;
  private nextId = 1;
  private readonly owners = new Map<number, string>();
  private readonly counts = new Map<string, number>();

  constructor(private readonly maxThreads = 16) {}

  dispose(fd: number, owner: string): void {
    const id = this.nextId++;
    this.owners.set(id, owner);
    this.counts.set(owner, (this.counts.get(owner) ?? 0) + 1);
    this.workerFor(owner).postMessage({ id, fd });
  }

  /** Descriptors of this owner whose close has not returned yet. */
  outstanding(owner: string): number {
    return this.counts.get(owner) ?? 0;
  }

  /** Total not yet closed. */
  get pending(): number {
    return this.owners.size;
  }

  /** Lets the process exit even if a close hangs; returns once every queued close has returned, or after timeoutMs. */
  async drain(timeoutMs = 1000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (this.owners.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    for (const w of this.workers.values()) w.unref();
    this.shared?.unref();
    return this.owners.size === 0;
  }

  private workerFor(owner: string): Worker {
    const own = this.workers.get(owner);
    if (own) return own;
    if (this.workers.size >= this.maxThreads) return (this.shared ??= this.spawn(null));
    const w = this.spawn(owner);
    this.workers.set(owner, w);
    return w;
  }

  private spawn(owner: string | null): Worker {
    const w = new Worker(new URL('./fd-quarantine-worker.js', import.meta.url));
    w.unref();
    w.on('message', (m: { id: number }) => {
      const o = this.owners.get(m.id);
      this.owners.delete(m.id);
      if (o === undefined) return;
      const left = (this.counts.get(o) ?? 1) - 1;
      if (left <= 0) this.counts.delete(o);
      else this.counts.set(o, left);
      // An owner's thread ends once its closes have all returned (threads stay bounded by owners with a close pending).
      if (owner !== null && left <= 0 && this.workers.get(owner) === w) {
        this.workers.delete(owner);
        void w.terminate();
      }
    });
    w.on('error', () => {
      if (owner !== null && this.workers.get(owner) === w) this.workers.delete(owner);
      if (owner === null && this.shared === w) this.shared = null;
    });
    return w;
  }
}
