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
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly owners = new Map<number, string>();
  private readonly counts = new Map<string, number>();

  dispose(fd: number, owner: string): void {
    const id = this.nextId++;
    this.owners.set(id, owner);
    this.counts.set(owner, (this.counts.get(owner) ?? 0) + 1);
    this.start().postMessage({ id, fd });
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
    this.worker?.unref();
    return this.owners.size === 0;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./fd-quarantine-worker.js', import.meta.url));
    w.unref();
    w.on('message', (m: { id: number }) => {
      const owner = this.owners.get(m.id);
      this.owners.delete(m.id);
      if (owner === undefined) return;
      const left = (this.counts.get(owner) ?? 1) - 1;
      if (left <= 0) this.counts.delete(owner);
      else this.counts.set(owner, left);
    });
    w.on('error', () => {
      this.worker = null;
    });
    this.worker = w;
    return w;
  }
}
