import { connect, type Socket } from 'node:net';

/**
 * Run inside a user namespace of the test user whose uid 0..N map to its
 * subordinate range, as root there: for each inside uid 1..N, becomes it
 * (seteuid), connects to the broker (SO_PEERCRED records that host uid),
 * says hello and asks for an allocation, and keeps the connection open.
 * Prints one JSON line: per uid, what hello and alloc answered.
 * argv: SOCKET N
 */
const [socketPath, nText] = process.argv.slice(2);
const n = Number(nText);

/** A connection whose lines are collected from the start (a broker refusing at accept answers before any request). */
function lines(s: Socket): () => Promise<Record<string, unknown>> {
  let buf = '';
  const queue: Record<string, unknown>[] = [];
  let waiter: ((v: Record<string, unknown>) => void) | null = null;
  const push = (v: Record<string, unknown>) => {
    if (waiter) {
      const w = waiter;
      waiter = null;
      w(v);
    } else queue.push(v);
  };
  s.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
      buf = buf.slice(i + 1);
    }
  });
  s.on('error', () => undefined);
  s.on('close', () => push({ ok: false, error: { code: 'CLOSED' } }));
  return () => new Promise((r) => (queue.length > 0 ? r(queue.shift()!) : (waiter = r)));
}

async function main(): Promise<void> {
  const out: { uid: number; hello: string; account: string | null; alloc: string }[] = [];
  const sockets: Socket[] = [];
  for (let uid = 1; uid <= n; uid++) {
    process.seteuid!(0);
    process.seteuid!(uid);
    const s = connect(socketPath);
    await new Promise<void>((r) => {
      s.once('connect', () => r());
      s.once('error', () => r());
    });
    process.seteuid!(0);
    sockets.push(s);
    const next = lines(s);
    await new Promise((r) => setTimeout(r, 30));
    const ask = (line: object) => {
      if (!s.destroyed) s.write(JSON.stringify(line) + '\n');
      return next();
    };
    const h = await ask({ v: 1, id: 1, op: 'hello' });
    const code = (x: Record<string, unknown>) => (x.ok ? 'ok' : String((x.error as { code: string }).code));
    const account = h.ok ? ((h.result as { account: { key: string } }).account.key ?? null) : null;
    const a = h.ok ? await ask({ v: 1, id: 2, op: 'alloc', name: `flood-${uid}` }) : { ok: false, error: { code: 'NO_HELLO' } };
    out.push({ uid, hello: code(h), account, alloc: code(a) });
  }
  process.stdout.write(JSON.stringify(out) + '\n');
  for (const s of sockets) s.destroy();
}

void main();
