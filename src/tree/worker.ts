import { parentPort } from 'node:worker_threads';
import { type ApplyBatch, applyBatch } from './apply-ops.js';
import { dirScanTransfer, scanDirectories } from './dir-scan-ops.js';
import { scanBatch, scanTransfer } from './scan-ops.js';
import type { PoolRequest, PoolReply } from './pool.js';

/**
 * A thread of the tree pool: takes batches of paths, makes their system calls
 * (which block in the kernel, so two threads keep two cores busy) and posts
 * the columns back. No state between batches.
 */
const port = parentPort;
if (!port) throw new Error('tree worker started outside a worker thread');

port.on('message', (m: PoolRequest) => {
  try {
    if (m.kind === 'scan') {
      const result = scanBatch(m.table);
      port.postMessage({ id: m.id, kind: 'done', result } satisfies PoolReply, scanTransfer(result));
    } else if (m.kind === 'dirs') {
      const result = scanDirectories(m.task);
      port.postMessage({ id: m.id, kind: 'done', result } satisfies PoolReply, dirScanTransfer(result));
    } else {
      const batch: ApplyBatch = m.batch;
      const result = applyBatch(batch, (done) => port.postMessage({ id: m.id, kind: 'progress', done } satisfies PoolReply));
      port.postMessage({ id: m.id, kind: 'done', result } satisfies PoolReply);
    }
  } catch (e) {
    port.postMessage({ id: m.id, kind: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) } satisfies PoolReply);
  }
});
