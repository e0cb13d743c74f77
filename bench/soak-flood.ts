// A hostile user's flood for the broker soak benchmark (broker-soak.bench.ts),
// run as that user. argv: MODE SOCKET SECONDS [N]
//  - fds: connections whose 1-byte messages each carry 4 descriptors (a file,
//    a pipe, a TCP socket with unsent data and SO_LINGER {1, 40}), a newline
//    every 500 messages — the reported descriptor flood; reconnects at once.
//  - junk: ~59 KB lines of junk (a mount request with a 30 KB path and a 24 KB
//    map), as fast as the broker answers; reconnects when closed.
//  - subuid: run as root of the user's own namespace (uid 0..65535 mapped to
//    its subordinate range): becomes each of uids 1..N in turn, connects (the
//    broker sees that host uid), keeps every connection it gets and says
//    hello on each, reconnecting whatever is closed.
// Prints one JSON line of counts at the end.
import { openSync } from 'node:fs';
import { lingeringTcpSocket } from '../test/support/lingering-socket.js';
import { closeDescriptor, POLLIN, pollReady, receive, send, setNonBlocking, unixConnect } from '../src/kernel/socket/unix-socket.js';

const [mode, socketPath, secondsText, nText] = process.argv.slice(2);
const deadline = Date.now() + Number(secondsText) * 1000;
const counts: Record<string, number> = {};
const count = (k: string, n = 1) => (counts[k] = (counts[k] ?? 0) + n);
let answers = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads whatever answers are waiting; counts their codes; true when the broker closed the connection. */
function drain(fd: number, buf: { s: string }): boolean {
  for (;;) {
    let r;
    try {
      r = receive(fd, 65536);
    } catch {
      return true;
    }
    if (!r) return false;
    for (const f of r.fds) closeDescriptor(f);
    buf.s += r.data.toString('utf8');
    for (let i = buf.s.indexOf('\n'); i >= 0; i = buf.s.indexOf('\n')) {
      try {
        const a = JSON.parse(buf.s.slice(0, i)) as { ok: boolean; error?: { code: string } };
        count(a.ok ? 'ok' : a.error!.code);
        answers++;
      } catch {
        count('unparsable');
      }
      buf.s = buf.s.slice(i + 1);
    }
    if (r.eof) return true;
  }
}

function tryConnect(): number | null {
  try {
    const fd = unixConnect(socketPath);
    setNonBlocking(fd);
    count('connected');
    return fd;
  } catch {
    count('connect-failed');
    return null;
  }
}

async function fdFlood(): Promise<void> {
  const file = openSync('/etc/hostname', 'r');
  const pipeR = openSync('/dev/null', 'r');
  const tcp = await lingeringTcpSocket();
  const fds = [file, pipeR, tcp.fd, file];
  while (Date.now() < deadline) {
    const fd = tryConnect();
    if (fd === null) {
      await sleep(5);
      continue;
    }
    const buf = { s: '' };
    let closed = false;
    for (let i = 0; i < 2000 && !closed && Date.now() < deadline; i++) {
      try {
        if (send(fd, Buffer.from(i % 500 === 499 ? '\n' : 'x'), fds) === 0) {
          await pollReady([{ fd, events: POLLIN }], 5);
          closed = drain(fd, buf);
        } else count('messages');
      } catch {
        closed = true;
      }
      if (i % 50 === 0) closed = closed || drain(fd, buf);
    }
    drain(fd, buf);
    closeDescriptor(fd);
    // Every round trip of the loop yields, so the closes and reconnects are as fast as the event loop goes.
    await sleep(0);
  }
  tcp.close();
}

async function junkFlood(): Promise<void> {
  const line = Buffer.from(
    `{"v":1,"id":1,"op":"mount","path":"/${'j'.repeat(30000)}","mountMap":{"uid":"${'0 1 1\\n'.repeat(4000)}","gid":"0 1 1"}}\n`,
  );
  counts.lineBytes = line.length;
  while (Date.now() < deadline) {
    const fd = tryConnect();
    if (fd === null) {
      await sleep(5);
      continue;
    }
    const buf = { s: '' };
    let closed = false;
    while (!closed && Date.now() < deadline) {
      let off = 0;
      while (off < line.length && !closed) {
        let n = 0;
        try {
          n = send(fd, line.subarray(off));
        } catch {
          closed = true;
        }
        off += n;
        if (n === 0) await pollReady([{ fd, events: POLLIN }], 5);
        closed = closed || drain(fd, buf);
      }
      count('lines');
      // One answer per line (or the connection closed): then the next.
      const before = answers;
      for (let t = 0; t < 200 && !closed && answers === before; t++) {
        await pollReady([{ fd, events: POLLIN }], 5);
        closed = drain(fd, buf);
      }
    }
    closeDescriptor(fd);
  }
}

async function subuidFlood(n: number): Promise<void> {
  const conns = new Map<number, { fd: number; buf: { s: string } }[]>();
  while (Date.now() < deadline) {
    for (let uid = 1; uid <= n && Date.now() < deadline; uid++) {
      const mine = conns.get(uid) ?? [];
      conns.set(uid, mine);
      // Up to 8 connections per uid (the default per-user limit, were each uid a user of its own).
      while (mine.length < 8) {
        process.seteuid!(uid);
        const fd = tryConnect();
        process.seteuid!(0);
        if (fd === null) break;
        mine.push({ fd, buf: { s: '' } });
      }
      for (const c of [...mine]) {
        let closed = false;
        try {
          send(c.fd, Buffer.from('{"v":1,"id":1,"op":"hello"}\n'));
          count('hellos');
        } catch {
          closed = true;
        }
        closed = drain(c.fd, c.buf) || closed;
        if (closed) {
          closeDescriptor(c.fd);
          mine.splice(mine.indexOf(c), 1);
        }
      }
      await sleep(1);
    }
    counts.heldNow = [...conns.values()].reduce((s, l) => s + l.length, 0);
  }
  for (const l of conns.values()) for (const c of l) closeDescriptor(c.fd);
}

const run = mode === 'fds' ? fdFlood() : mode === 'junk' ? junkFlood() : subuidFlood(Number(nText ?? 32));
await run;
process.stdout.write(JSON.stringify({ mode, ...counts }) + '\n');
process.exit(0);
