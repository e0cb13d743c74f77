import { parentPort } from 'node:worker_threads';
import koffi from 'koffi';

/**
 * The thread that closes descriptors a peer sent which are not what the
 * broker asked for. close(2) of a FUSE file sends FLUSH to the FUSE server
 * and waits for its answer; a hostile peer runs that server, so such a close
 * may never return. Here it can only stall this thread (see fd-quarantine.ts).
 */
const close = koffi.load('libc.so.6').func('int close(int fd)') as (fd: number) => number;

parentPort?.on('message', (msg: { id: number; fd: number }) => {
  close(msg.fd);
  parentPort?.postMessage({ id: msg.id });
});
