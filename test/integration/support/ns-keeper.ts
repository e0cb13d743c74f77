/**
 * Run as a test user: keeps a namespace of one of its processes alive in a
 * way no /proc walk sees, then, told to on stdin, shows it still had it.
 * argv: MODE PID
 * - inflight: opens /proc/PID/ns/user, sends it into a socket pair of its own
 *   (SCM_RIGHTS), closes it: the namespace lives only in the socket's queue.
 *   On a line on stdin, receives it back and prints its link ("user:[INO]").
 * - netns: keeps /proc/PID/ns/net open, a network namespace owned by PID's
 *   user namespace (which it keeps alive); on a line on stdin, exits.
 * Prints "ready" once the process PID may go.
 */
import { openSync, closeSync, readlinkSync } from 'node:fs';
import { closeDescriptor, receive, send, unixSocketPair } from '../../../src/kernel/socket/unix-socket.js';

const [mode, pid] = process.argv.slice(2);
let pair: [number, number] | null = null;
if (mode === 'inflight') {
  const ns = openSync(`/proc/${pid}/ns/user`, 'r');
  pair = unixSocketPair();
  send(pair[0], Buffer.from('n'), [ns]);
  closeSync(ns);
} else {
  openSync(`/proc/${pid}/ns/net`, 'r');
}
process.stdout.write('ready\n');
process.stdin.once('data', () => {
  if (pair) {
    const r = receive(pair[1], 16);
    const fd = r?.fds[0];
    process.stdout.write(`got ${fd === undefined ? 'nothing' : readlinkSync(`/proc/self/fd/${fd}`)}\n`);
    if (fd !== undefined) closeDescriptor(fd);
  }
  process.exit(0);
});
