import { readlinkSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import koffi from 'koffi';

const setsockopt = koffi.load('libc.so.6').func('int setsockopt(int, int, int, const uint8_t *, uint32_t)') as (
  fd: number,
  level: number,
  name: number,
  val: Buffer,
  len: number,
) => number;

/**
 * The descriptor of issue 13's finding 3: a TCP socket to a peer that never
 * reads, its send buffer full and SO_LINGER {1, 40 s}, so that a close of it
 * blocks for 40 s. For the broker's descriptor test and its soak benchmark.
 */
export async function lingeringTcpSocket(): Promise<{ fd: number; close: () => void }> {
  const keep: Socket[] = [];
  const server = createServer((s) => {
    s.pause();
    keep.push(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', () => r()));
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < 64 && client.write(chunk); i++) {
    /* fill the send buffer */
  }
  await new Promise((r) => setTimeout(r, 100));
  const fd = (client as unknown as { _handle: { fd: number } })._handle.fd;
  const linger = Buffer.alloc(8);
  linger.writeInt32LE(1, 0);
  linger.writeInt32LE(40, 4);
  const close = () => {
    client.destroy();
    for (const s of keep) s.destroy();
    server.close();
  };
  if (
    setsockopt(fd, 1 /* SOL_SOCKET */, 13 /* SO_LINGER */, linger, 8) !== 0 ||
    !readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')
  ) {
    close();
    throw new Error('could not make a lingering TCP socket (setsockopt SO_LINGER failed, or the fd is not a socket)');
  }
  return { fd, close };
}
