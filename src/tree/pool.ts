import { Worker } from 'node:worker_threads';
import { type ApplyBatch, type ApplyResult, applyBatch } from './apply-ops.js';
import { type DirScanResult, type DirScanTask, scanDirectories } from './dir-scan-ops.js';
import type { PathTable } from './path-table.js';
import { type ScanBatch, scanBatch } from './scan-ops.js';

/**
 * Worker threads for the per-path system calls of a scan or a shift. The
 * calls spend their time in the kernel (ext4 chown is ~4 µs), so on a
 * filesystem that takes them in parallel N threads go nearly N times as fast
 * (measured: docs/image-tree.md). With size 0 everything runs inline, which is
 * what small trees want (a thread costs ~40 ms to start).
 *
 * Owns its threads: close() ends them; terminate() stops them mid-batch, which
 * is safe for shifts because every step is idempotent (see apply-ops.ts).
 */
export type PoolRequest =
  | { readonly id: number; readonly kind: 'scan'; readonly table: PathTable }
  | { readonly id: number; readonly kind: 'dirs'; readonly task: DirScanTask }
  | { readonly id: number; readonly kind: 'apply'; readonly batch: ApplyBatch };

export type PoolReply =
  | { readonly id: number; readonly kind: 'progress'; readonly done: number }
  | { readonly id: number; readonly kind: 'done'; readonly result: ScanBatch | ApplyResult | DirScanResult }
  | { readonly id: number; readonly kind: 'error'; readonly message: string };

interface Pending {
  readonly request: PoolRequest;
  readonly transfer: ArrayBuffer[];
  readonly onProgress: ((done: number) => void) | undefined;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

export class TreePool {
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];
  private readonly queue: Pending[] = [];
  private readonly running = new Map<number, { pending: Pending; worker: Worker }>();
  private nextId = 1;
  private closed = false;

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL('./worker.js', import.meta.url));
      w.on('message', (m: PoolReply) => this.onReply(w, m));
      w.on('error', (e) => this.failAll(e));
      w.unref();
      this.all.push(w);
      this.idle.push(w);
    }
  }

  scan(table: PathTable): Promise<ScanBatch> {
    if (this.size === 0) return Promise.resolve().then(() => scanBatch(table));
    return this.submit({ id: this.nextId++, kind: 'scan', table }, [
      table.bytes.buffer,
      table.offsets.buffer,
    ] as ArrayBuffer[]) as Promise<ScanBatch>;
  }

  dirs(task: DirScanTask): Promise<DirScanResult> {
    if (this.size === 0) return Promise.resolve().then(() => scanDirectories(task));
    return this.submit({ id: this.nextId++, kind: 'dirs', task }, []) as Promise<DirScanResult>;
  }

  apply(batch: ApplyBatch, onProgress?: (done: number) => void): Promise<ApplyResult> {
    if (this.size === 0) return Promise.resolve().then(() => applyBatch(batch, onProgress));
    return this.submit({ id: this.nextId++, kind: 'apply', batch }, [], onProgress) as Promise<ApplyResult>;
  }

  /** Ends the threads once their batches are done. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.all.map((w) => w.terminate()));
  }

  /** Stops the threads now, mid-batch; pending batches reject. */
  async terminate(reason: Error): Promise<void> {
    this.closed = true;
    this.failAll(reason);
    await Promise.all(this.all.map((w) => w.terminate()));
  }

  private submit(request: PoolRequest, transfer: ArrayBuffer[], onProgress?: (done: number) => void): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('tree pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ request, transfer, onProgress, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop() as Worker;
      const p = this.queue.shift() as Pending;
      this.running.set(p.request.id, { pending: p, worker: w });
      w.ref();
      w.postMessage(p.request, p.transfer);
    }
  }

  private onReply(w: Worker, m: PoolReply): void {
    const r = this.running.get(m.id);
    if (!r) return;
    if (m.kind === 'progress') {
      r.pending.onProgress?.(m.done);
      return;
    }
    this.running.delete(m.id);
    w.unref();
    this.idle.push(w);
    if (m.kind === 'done') r.pending.resolve(m.result);
    else r.pending.reject(new Error(`tree worker failed: ${m.message}`));
    this.pump();
  }

  private failAll(e: unknown): void {
    for (const [, r] of this.running) r.pending.reject(e);
    this.running.clear();
    for (const p of this.queue.splice(0)) p.reject(e);
  }
}
